"""The main window with the real engine and a real (small-input) SlowFast: frames, predictions, sources,
errors, recording with label keys, shutdown time and event-loop responsiveness."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import copy
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt, QTimer  # noqa: E402

from app.settings import AppSettings, SettingsStore  # noqa: E402
from app.video_view import overlay_content  # noqa: E402
from app.window import DEMO_SOURCE, MainWindow  # noqa: E402
from slowfast_core import create_model  # noqa: E402
from slowfast_core.model.net import SlowFast  # noqa: E402
from slowfast_core.sessions import load_session  # noqa: E402

REAL_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "realvideo"
SYNTHETIC = "synthetic:160x120@15"
INPUT_SIZE = 112
WAIT = 120_000  # ms: generous, the test machine is small and shared


@pytest.fixture(scope="module")
def base_model() -> SlowFast:
    """slowfast_8x8_r50 with untrained weights at input size 112, built once per module (copied per test)."""
    from app.engine_control import with_input_size

    return with_input_size(create_model("slowfast_8x8_r50"), INPUT_SIZE)


@pytest.fixture
def make_window(qtbot, tmp_path, base_model):
    """Build hermetic windows: settings in tmp_path, sessions in tmp_path, no cameras, an injected model."""
    windows: list[MainWindow] = []

    def make(*, source: str | None = SYNTHETIC, model: SlowFast | None = None, backend: str = "torch-cpu",
             settings: AppSettings | None = None) -> MainWindow:
        store = SettingsStore(path=tmp_path / "settings.ini")
        s = settings or AppSettings(weights="", input_size=INPUT_SIZE, stride_s=0.5, labels=["wave", "clap", "jump"])
        w = MainWindow(store=store, settings=s, sessions_root=tmp_path / "sessions", start_source=source,
                       model=model if model is not None else copy.deepcopy(base_model), cameras=[],
                       engine_settings={"backend": backend})
        qtbot.addWidget(w)
        w.resize(800, 600)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()


def engine_threads() -> list[str]:
    """Python threads that belong to the engine, recorder or our tasks (library pools and Qt's own excluded)."""
    return [t.name for t in threading.enumerate()
            if t.is_alive() and t is not threading.main_thread() and not isinstance(t, threading._DummyThread)
            and not t.name.startswith("ThreadPoolExecutor")]


def messages_text(window: MainWindow) -> str:
    return " | ".join(text for _level, text in window.messages.messages())


def test_window_shows_synthetic_frames_and_predictions_reach_the_overlay(qtbot, make_window):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 5, timeout=WAIT)
    assert w.state.frame.image.shape == (120, 160, 3)
    assert w.video.paints > 0
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    pred = w.state.prediction
    content = overlay_content(w.state)
    assert content.rows == tuple((n, float(p)) for n, p in pred.topk[: w.state.topk])
    assert content.untrained  # random weights: the warning is on screen
    assert "Untrained weights" in messages_text(w)
    assert pred.end_time > pred.start_time and "window" in content.footer
    qtbot.waitUntil(lambda: w.state.status is not None and w.state.status.backend != "", timeout=WAIT)
    assert "torch-cpu" in w.status_panel.model.text()
    assert "160×120" in w.status_panel.source.text()
    assert w.timeline.visible_predictions()  # the live timeline follows


def test_without_camera_the_demo_source_starts_with_a_notice(qtbot, make_window):
    w = make_window(source=None)
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    assert w.source_spec == DEMO_SOURCE
    assert "No camera found" in messages_text(w)
    assert w.state.frame.image.shape == (480, 640, 3)


def test_switching_to_a_real_file_and_the_choice_persists(qtbot, make_window, tmp_path):
    clip = REAL_VIDEO / "test.mp4"
    if not clip.is_file():
        pytest.skip(f"real clip {clip} not found (../shared/realvideo beside the repo)")
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    w.open_file(clip)
    qtbot.waitUntil(lambda: w.state.frame is not None and w.state.frame.image.shape == (256, 340, 3), timeout=WAIT)
    assert w.state.source_label.startswith("file:") and w.state.source_label.endswith("test.mp4")
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    stored = SettingsStore(path=tmp_path / "settings.ini").load()
    assert stored.source == f"file:{clip.resolve()}"
    assert stored.recent_files[0] == stored.source


def test_bad_file_and_bad_checkpoint_produce_messages(qtbot, make_window, tmp_path):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(b"this is not a video" * 100)
    w.open_file(bad_video)
    qtbot.waitUntil(lambda: "broken.mp4" in messages_text(w), timeout=WAIT)
    assert w.messages.has("source")
    shown = w.state.frames_shown
    qtbot.waitUntil(lambda: w.state.frames_shown > shown + 3, timeout=WAIT)  # the old source goes on
    assert w.source_spec == SYNTHETIC

    bad_ckpt = tmp_path / "garbage.pyth"
    bad_ckpt.write_bytes(b"\x00\x01not a checkpoint")
    model_before = w.model
    w.open_checkpoint(bad_ckpt)
    qtbot.waitUntil(lambda: w.messages.has("model"), timeout=WAIT)
    assert "garbage.pyth" in messages_text(w)
    assert w.model is model_before  # the running model stays
    missing = tmp_path / "nope" / "missing.pyth"
    w.open_checkpoint(missing)
    qtbot.waitUntil(lambda: "missing.pyth" in messages_text(w), timeout=WAIT)


def test_recording_with_label_keys_gives_a_valid_session(qtbot, make_window, tmp_path):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    assert w.start_recording("keys test", ["wave", "clap", "jump"])
    assert w.label_bar.isVisible() and len(w.label_bar.buttons) == 3
    qtbot.wait(700)
    marks: list[tuple[str, float]] = []

    def press(key, expect):
        qtbot.keyClick(w, key)
        marks.append((expect, w.state.frame.timestamp - w.recorder.start_monotonic))
        assert w.state.active_label == (expect or None)

    press(Qt.Key.Key_1, "wave")
    qtbot.wait(1200)
    press(Qt.Key.Key_1, "")  # the same key ends it
    qtbot.wait(300)
    press(Qt.Key.Key_2, "clap")
    qtbot.wait(1000)
    press(Qt.Key.Key_3, "jump")  # another key switches label
    qtbot.wait(800)
    press(Qt.Key.Key_Space, "")
    qtbot.wait(500)
    with qtbot.waitSignal(w.recordingStopped, timeout=WAIT) as blocker:
        qtbot.keyClick(w, Qt.Key.Key_R)  # R stops the recording
    info = blocker.args[0]
    assert info is not None and info.state == "finished" and info.error is None
    session = load_session(info.path)
    assert [s.label for s in session.labels] == ["wave", "clap", "jump"]
    expected = [(marks[0][1], marks[1][1]), (marks[2][1], marks[3][1]), (marks[3][1], marks[4][1])]
    for seg, (start, end) in zip(session.labels, expected):
        assert seg.start == pytest.approx(start, abs=1e-3) and seg.end == pytest.approx(end, abs=1e-3)
    times = session.frames.time
    assert len(times) >= 15 * 3 and np.all(np.diff(times) > 0)
    # the marks were taken at frames that are in the video: every label edge is a recorded frame time
    for seg in session.labels:
        for edge in (seg.start, seg.end):
            assert np.min(np.abs(times - edge)) < 1e-3
    cap = cv2.VideoCapture(str(session.video_path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (120, 160, 3) and n == len(times) == info.frames
    assert "saved" in messages_text(w)
    assert SettingsStore(path=tmp_path / "settings.ini").load().labels == ["wave", "clap", "jump"]
    # the Sessions window lists it and replays it, also after being closed and opened again
    for _ in range(2):
        w.show_sessions()
        sw = w.sessions_window
        assert sw.list.count() == 1 and sw.session.path == info.path
        assert [b.label for b in sw.labels_timeline.bands] == ["wave", "clap", "jump"]
        qtbot.waitUntil(lambda: sw.canvas._image is not None, timeout=WAIT)
        sw.done(0)
        assert not sw.isVisible()


class SlowSlowFast(SlowFast):
    """A real SlowFast whose forward also sleeps: inference far slower than the frame rate."""

    delay_s = 0.6

    def forward(self, x):  # [(B, C, T_p, H, W)] -> (B, num_classes)
        time.sleep(self.delay_s)
        return super().forward(x)


def test_closing_while_inference_runs_stops_every_thread_quickly(qtbot, make_window, base_model):
    from app.engine_control import with_input_size

    slow = with_input_size(copy.deepcopy(base_model), 64)  # little compute: the sleep dominates
    slow.__class__ = SlowSlowFast  # each window takes > 0.6 s: the close lands inside an inference
    w = make_window(model=slow, backend="torch-eager")
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    with qtbot.waitSignal(w.state.predictionChanged, timeout=WAIT):
        pass  # a fresh prediction: the worker has just taken the next window
    qtbot.wait(100)
    assert any(name.startswith("slowfast") for name in engine_threads())
    t0 = time.monotonic()
    w.close()
    elapsed = time.monotonic() - t0
    assert not w.isVisible()
    assert elapsed < 2.0, f"closing took {elapsed:.2f} s"
    assert engine_threads() == [], engine_threads()
    assert not w.control.thread.isRunning()
    print(f"close time {elapsed * 1000:.0f} ms")


def test_event_loop_never_stalls_while_a_slow_model_runs(qtbot, make_window, base_model):
    slow = copy.deepcopy(base_model)
    slow.__class__ = SlowSlowFast
    w = make_window(model=slow, backend="torch-eager")
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    first_id = w.state.prediction.id
    frames0 = w.state.frames_shown
    timer.start()
    qtbot.waitUntil(lambda: w.state.prediction.id >= first_id + 3, timeout=WAIT)
    timer.stop()
    gaps = np.diff(np.array(ticks)) * 1000.0
    assert w.state.frames_shown - frames0 > 15  # the video kept going while the model was slow
    print(f"event loop: {len(ticks)} ticks, max gap {gaps.max():.1f} ms, p99 {np.percentile(gaps, 99):.1f} ms")
    assert gaps.max() < 50.0, f"event loop stalled {gaps.max():.1f} ms"


def test_missing_weights_show_how_to_fix_and_run_untrained(qtbot, tmp_path, monkeypatch):
    """Saved weights that are not downloaded (offline): a banner names the command and the cache path, and the
    window runs untrained weights under the visible warning."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    settings = AppSettings(weights="SLOWFAST_8x8_R50", input_size=INPUT_SIZE)
    w = MainWindow(store=SettingsStore(path=tmp_path / "s.ini"), settings=settings, sessions_root=tmp_path / "s",
                   start_source=SYNTHETIC, cameras=[], engine_settings={"backend": "torch-cpu"})
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.messages.has("weights"), timeout=WAIT)
        text = messages_text(w)
        assert "slowfast weights download SLOWFAST_8x8_R50" in text
        assert str(tmp_path / "torch" / "hub" / "checkpoints" / "SLOWFAST_8x8_R50.pyth") in text
        assert w.messages.has("untrained") and not w.state.model.trained
        qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
        assert w.model.meta.preprocessing.short_side == INPUT_SIZE
    finally:
        w.shutdown()


def test_download_can_be_cancelled_and_offline_failure_is_a_message(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    w = make_window()
    w.choose_weights("SLOWFAST_8x8_R50")
    dialog = w.download_dialog
    assert dialog.isVisible() and dialog.process.state() != dialog.process.ProcessState.NotRunning
    dialog.cancel()
    assert not dialog.isVisible() and dialog.process.state() == dialog.process.ProcessState.NotRunning
    assert "cancelled" in messages_text(w)
    assert not list((tmp_path / "torch").rglob("*.part"))
    # let one run to its end: there is no network here (or the URL fails), so the banner explains it
    w.choose_weights("SLOWFAST_8x8_R50")
    dialog = w.download_dialog
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    if dialog.result() == dialog.DialogCode.Accepted:
        pytest.skip("the download succeeded: this machine is online")
    assert w.messages.has("download")
    assert "SLOWFAST_8x8_R50.pyth" in messages_text(w)


def test_a_full_disk_stops_the_recording_with_a_message_and_keeps_it_readable(qtbot, make_window):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    assert w.start_recording("disk", ["wave"])
    qtbot.wait(1500)  # at least one closed segment
    with qtbot.waitSignal(w.recordingStopped, timeout=WAIT) as blocker:
        w.recorder.min_free_bytes = 10**18  # the recorder's free-space check now sees a full disk
    info = blocker.args[0]
    assert "disk almost full" in messages_text(w) and w.messages.has("record")
    assert w.recorder is None and w.state.recording_name is None and not w.label_bar.isVisible()
    session = load_session(info.path)
    assert len(session.frames) >= 15 and session.video_path is not None


def test_a_source_failure_on_the_capture_thread_shows_in_the_window_and_clears(qtbot, make_window):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2 and w.control.source is not None, timeout=WAIT)
    w.control.source.drop_out(1.5)  # like an unplugged camera: reads fail on the capture thread
    qtbot.waitUntil(lambda: w.messages.has("engine:capture"), timeout=WAIT)
    assert "drop-out" in messages_text(w)
    shown = w.state.frames_shown
    qtbot.waitUntil(lambda: w.state.frames_shown > shown + 5, timeout=WAIT)  # reopened by itself
    qtbot.waitUntil(lambda: not w.messages.has("engine:capture"), timeout=WAIT)


def test_settings_apply_live_and_persist(qtbot, make_window, tmp_path):
    import dataclasses

    w = make_window()
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    new = dataclasses.replace(w.settings, topk=2, threshold=0.5, smoothing=1, input_size=160)
    w.apply_settings(new)
    assert w.engine.settings.topk == 2 and w.engine.settings.threshold == 0.5
    assert w.state.threshold == 0.5
    qtbot.waitUntil(lambda: w.model.meta.preprocessing.short_side == 160, timeout=WAIT)  # a resized copy runs
    qtbot.waitUntil(lambda: w.state.prediction is not None and len(w.state.prediction.topk) == 2, timeout=WAIT)
    assert len(overlay_content(w.state).rows) == 2
    stored = SettingsStore(path=tmp_path / "settings.ini").load()
    assert (stored.topk, stored.threshold, stored.smoothing, stored.input_size) == (2, 0.5, 1, 160)
