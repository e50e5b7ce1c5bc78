"""The window on the fastest path: it starts on torch-cpu (ready at once), converts OpenVINO in the background
(untrained weights too) and moves the live view to it without a gap: frames keep reaching the window and
predictions keep coming while the conversion runs, and the swap happens between two windows.

One OpenVINO conversion of the tiny model, into an empty cache of this module's own."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from app.settings import AppSettings, SettingsStore  # noqa: E402
from app.window import MainWindow  # noqa: E402
from slowfast_core import create_model  # noqa: E402
from slowfast_core.model.builder import UNTRAINED_SEED  # noqa: E402
from slowfast_core.stream.quality import LiveTarget  # noqa: E402
from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction  # noqa: E402

WAIT = 180_000  # ms: a conversion on a loaded 2-core machine
#: the compiled-model cache the first test filled (converting the tiny model once): later tests of this module
#: start from it when it is there, and convert on their own when run alone (only their time differs)
CONVERTED: dict[str, str] = {}


class Timeline:
    """Every engine event in the order it happened (any thread): ("frame", index), ("prediction", backend, id),
    ("building", message) when the background build starts, ("error", message)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple] = []

    def on_frame(self, frame: FramePacket) -> None:
        with self.lock:
            self.events.append(("frame", frame.index))

    def on_prediction(self, p: Prediction) -> None:
        with self.lock:
            self.events.append(("prediction", p.backend.split()[0], p.id))

    def on_status(self, status: EngineStatus) -> None:
        if status.message.startswith("preparing"):
            with self.lock:
                self.events.append(("building", status.message))

    def on_error(self, error: EngineError) -> None:
        with self.lock:
            self.events.append(("error", error.message))

    def snapshot(self) -> list[tuple]:
        with self.lock:
            return list(self.events)


def test_window_leaves_torch_cpu_for_openvino_without_a_gap(qtbot, tmp_path, tmp_path_factory, monkeypatch):
    CONVERTED.pop("cache", None)
    cache = tmp_path_factory.mktemp("converted")  # kept for this module's later tests (tmp_path is removed)
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(cache))  # empty: OpenVINO must convert first
    model = create_model("slowfast_tiny", seed=UNTRAINED_SEED)  # untrained weights: moved all the same
    settings = AppSettings(weights="", input_size=80, stride_s=0.25, labels=["wave"])
    assert settings.backend == "auto"
    w = MainWindow(store=SettingsStore(path=tmp_path / "s.ini"), settings=settings, sessions_root=tmp_path / "s",
                   start_source="synthetic:160x120@30", model=model, cameras=[], repair_on_start=False)
    timeline = Timeline()
    unsubscribe = w.engine.subscribe(timeline)
    qtbot.addWidget(w)
    w.show()
    try:
        def backends() -> list[str]:
            return [e[1] for e in timeline.snapshot() if e[0] == "prediction"]

        qtbot.waitUntil(lambda: "openvino" in backends(), timeout=WAIT)
        shown_at_swap = w.state.frames_shown
        qtbot.waitUntil(lambda: backends().count("openvino") >= 3 and w.state.frames_shown > shown_at_swap + 5,
                        timeout=WAIT)
        qtbot.waitUntil(lambda: w.state.status is not None and w.state.status.backend == "openvino", timeout=WAIT)
        assert "openvino" in w.status_panel.model.text()
        assert w.state.prediction is not None and w.state.prediction.backend.startswith("openvino")
    finally:
        unsubscribe()
        w.shutdown()
    events = timeline.snapshot()
    assert not [e for e in events if e[0] == "error"], events
    kinds = [e[0] if e[0] != "prediction" else e[1] for e in events]
    building = kinds.index("building")
    first_fast = kinds.index("openvino")
    assert kinds.index("torch-cpu") < first_fast and building < first_fast  # torch-cpu first, openvino built aside
    during = kinds[building:first_fast]
    assert during.count("torch-cpu") >= 2  # predictions went on while OpenVINO converted and compiled
    assert during.count("frame") >= 10  # and so did the video
    assert "torch-cpu" not in kinds[first_fast:]  # moved once, for good
    # the source was never reopened: frame indices run on without a restart across the swap
    indices = [e[1] for e in events if e[0] == "frame"]
    assert indices == sorted(indices) and indices[-1] - indices[0] + 1 >= len(indices)
    # the prediction stream went on across the swap: window ids keep increasing, no window was run twice
    ids = [e[2] for e in events if e[0] == "prediction"]
    assert ids == sorted(set(ids))
    CONVERTED["cache"] = str(cache)


def test_auto_quality_steps_down_in_the_window_and_remembers_the_choice(qtbot, tmp_path, monkeypatch):
    """Auto (input size 0) on weights made for 192: with a budget nothing meets, the window measures 192, then
    160, runs 160, shows the choice in the status bar and remembers it for this machine + model."""
    from slowfast_core.weights.api import ModelRequest, ready_model

    monkeypatch.setenv("SLOWFAST_DATA_DIR", str(tmp_path / "data"))
    net = create_model("slowfast_tiny", seed=UNTRAINED_SEED)
    model = ready_model(net, ModelRequest("slowfast_tiny"), input_size=192)  # weights made for 192
    settings = AppSettings(weights="", input_size=0, stride_s=0.25, labels=["wave"], backend="torch-cpu")
    w = MainWindow(store=SettingsStore(path=tmp_path / "s.ini"), settings=settings, sessions_root=tmp_path / "s",
                   start_source="synthetic:160x120@30", model=model, cameras=[], repair_on_start=False,
                   engine_settings={"backend": "torch-cpu"})
    w.quality.target = LiveTarget(delay_ms=0.0)  # this machine "cannot keep up" at any size: the smallest is chosen
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.quality.choice is not None, timeout=WAIT)
        choice = w.quality.choice
        assert choice.size == 160 and set(choice.measured) == {192, 160} and choice.backend == "torch-cpu"
        assert all(ms > 0 for ms in choice.measured.values())
        assert w.models.loaded.input_size == 160 and w.models.model is net  # the same network runs at 160: nothing copied
        assert w.quality.label.text().startswith("auto 160²")
        assert w.prefs.settings.input_size == 0  # still Auto: the choice is not a pin
        assert w.quality.size_for("slowfast_tiny", "") == 160  # the next start loads at 160 at once
        assert (tmp_path / "data" / "quality.json").is_file()
    finally:
        w.shutdown()


def test_auto_quality_with_its_default_budget_on_the_final_backend_and_reused_at_the_next_start(
        qtbot, tmp_path, monkeypatch):
    """Auto with the default target (1.6 updates/s, 800 ms behind at most) and backend on the tiny model (its own 80): the search waits for the
    move to OpenVINO, measures there, keeps 80 (well within budget) and remembers it; a second window on the same
    machine takes the remembered choice at once, measures nothing and rewrites nothing."""
    from slowfast_core.weights.api import ModelRequest, ready_model

    monkeypatch.setenv("SLOWFAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", CONVERTED.get("cache", str(tmp_path / "cache")))
    net = create_model("slowfast_tiny", seed=UNTRAINED_SEED)

    def window() -> MainWindow:
        model = ready_model(net, ModelRequest("slowfast_tiny"))
        settings = AppSettings(weights="", input_size=0, stride_s=0.25, labels=["wave"])
        assert settings.backend == "auto"
        w = MainWindow(store=SettingsStore(path=tmp_path / "s.ini"), settings=settings, sessions_root=tmp_path / "s",
                       start_source="synthetic:160x120@30", model=model, cameras=[], repair_on_start=False)
        qtbot.addWidget(w)
        assert w.quality.target == LiveTarget(updates_per_s=1.6, delay_ms=800.0)
        return w

    first = window()
    first.show()
    try:
        qtbot.waitUntil(lambda: first.quality.choice is not None, timeout=WAIT)
        choice = first.quality.choice
        assert choice.backend == "openvino"  # measured on the final backend, not on torch-cpu
        assert choice.size == 80 and set(choice.measured) == {80} and choice.end_to_end_ms < 1000 / 1.6
    finally:
        first.shutdown()
    remembered = (tmp_path / "data" / "quality.json").read_bytes()

    second = window()
    searched: list[object] = []
    second.show()
    try:
        qtbot.waitUntil(lambda: second.quality.choice is not None, timeout=WAIT)
        searched.append(second.quality.search)
        assert second.quality.choice == choice and searched == [None]  # taken at once: nothing measured
        assert second.quality.label.text().startswith("auto 80²")
        qtbot.waitUntil(lambda: second.state.prediction is not None, timeout=WAIT)
        assert second.quality.search is None and second.models.loaded.input_size == 80
    finally:
        second.shutdown()
    assert (tmp_path / "data" / "quality.json").read_bytes() == remembered


def test_bench_app_end_to_end_at_tiny_size(tmp_path):
    """`slowfast bench app` as a user runs it (its own process: it owns its QApplication and environment), on the
    tiny untrained model: one JSON document with the window's figures and start-up steps. Its Auto choices go
    to a folder of its own; its compiled models come from the first test's cache when that ran."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "slowfast_core.cli", "bench", "app", "--arch", "slowfast_tiny",
                           "--weights", "", "--duration", "2", "--json", "--source", "synthetic:160x120@30"],
                          capture_output=True, text=True, timeout=WAIT // 1000, cwd=tmp_path,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "SLOWFAST_DATA_DIR": str(tmp_path / "data"),
                               "SLOWFAST_CACHE_DIR": CONVERTED.get("cache", str(tmp_path / "cache"))})
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert "slowfast_tiny" in report["model"] and report["input_size"] == 80 and report["fresh_caches"] is False
    assert report["backend"] in ("torch-cpu", "openvino") and report["duration_s"] == 2
    assert report["first_overlay_s"] is not None and report["first_overlay_s"] > 0
    steps = report["steps_s"]
    for step in ("window built", "engine started", "first frame shown", "first prediction", "first overlay"):
        assert step in steps, (step, steps)
    assert steps["window built"] <= steps["first frame shown"] <= steps["first overlay"]
    assert report["frames_shown_per_s"] >= 0 and report["windows_dropped"] >= 0
    cpu = report["cpu"]  # what the figures were taken on, and what the runtimes were capped to
    assert cpu["cores"] == os.cpu_count() and cpu["torch_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR")


def test_a_first_start_runs_the_smallest_size_until_auto_measured_the_largest(qtbot, tmp_path, monkeypatch):
    """Auto with nothing remembered (a first start on this machine), weights made for 192: the window runs them at
    128 at once (the first start is when the fastest backend is being converted beside the view: at its own
    size the view fell seconds behind), then Auto's search, on the final backend, measures 160 (the smallest it
    chooses from), tries 192 and keeps it (the target is loose here: both fit). Before: 192 from the start."""
    from slowfast_core.weights.native import save_model

    monkeypatch.setenv("SLOWFAST_DATA_DIR", str(tmp_path / "data"))
    weights = save_model(create_model("slowfast_tiny", seed=UNTRAINED_SEED, input_size=192), tmp_path / "w192.pyth")
    settings = AppSettings(weights=str(weights), input_size=0, stride_s=0.25, labels=["wave"], backend="torch-cpu")
    w = MainWindow(store=SettingsStore(path=tmp_path / "s.ini"), settings=settings, sessions_root=tmp_path / "s",
                   start_source="synthetic:160x120@30", cameras=[], repair_on_start=False,
                   engine_settings={"backend": "torch-cpu"})
    w.quality.target = LiveTarget(updates_per_s=0.1, delay_ms=60_000.0)  # everything fits, however busy the machine
    sizes: list[int] = []

    def on_prediction() -> None:
        prep = w.engine.running_backend().preprocessing
        if w.state.prediction is not None and prep is not None:
            sizes.append(prep.short_side)

    w.state.predictionChanged.connect(on_prediction)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.quality.choice is not None, timeout=WAIT)
        assert sizes[0] == 128 and 192 in sizes  # the first overlay at the interim size, then the search
        assert set(w.quality.choice.measured) == {192, 160} and w.quality.choice.size == 192
    finally:
        w.shutdown()
