"""The window's controllers alone (app.sources, app.models, app.recording, app.settings_control, app.shutdown):
each over a real `Engine`, `EngineController`, `LiveState` and `NoticeModel`, with no window. Where a test only
checks which request a controller sends, the controller thread is stopped first, so requests are seen by a
spy and never run (nothing starts); the shutdown tests run real starts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses
import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from app.engine_control import EngineController  # noqa: E402
from slowfast_core.weights.api import ModelRequest, ready_model  # noqa: E402
from app.models import ModelController  # noqa: E402
from app.notices import NoticeModel  # noqa: E402
from app.quality import QualityController  # noqa: E402
from app.recording import RecordingController  # noqa: E402
from app.settings import AppSettings, SettingsStore  # noqa: E402
from app.settings_control import SettingsController  # noqa: E402
from app.shutdown import stop_engine_side  # noqa: E402
from app.sources import DEMO_SOURCE, SourceController  # noqa: E402
from app.state import LiveState  # noqa: E402
from app.workers import TaskRunner  # noqa: E402
from slowfast_core import create_model  # noqa: E402
from slowfast_core.stream.engine import Engine, EngineSettings  # noqa: E402
from slowfast_core.video.cameras import CameraChoice  # noqa: E402
from slowfast_core.video.source_text import parse_source  # noqa: E402

WAIT = 120_000  # ms
SMALL = "synthetic:96x72@15"


@dataclasses.dataclass
class Parts:
    engine: Engine
    control: EngineController
    state: LiveState
    notices: NoticeModel
    prefs: SettingsController
    store: SettingsStore
    requests: list[tuple]  # (request name, *arguments) sent to the controller


@pytest.fixture
def parts(qtbot, tmp_path) -> Parts:
    """A controller whose thread has stopped: its requests are recorded, never run."""
    engine = Engine(EngineSettings(backend="torch-eager"))
    control = EngineController(engine)
    control.shutdown()
    requests: list[tuple] = []
    for name in ("requestStart", "requestOpen", "requestSource", "requestModel", "requestHead"):
        getattr(control, name).connect(lambda *args, _n=name: requests.append((_n, *args)),
                                       Qt.ConnectionType.DirectConnection)  # the spy runs where it is sent
    store = SettingsStore(path=tmp_path / "settings.ini")
    notices = NoticeModel()
    prefs = SettingsController(store, AppSettings(weights="", input_size=112), control.session, notices)
    return Parts(engine, control, LiveState(), notices, prefs, store, requests)


def sources_of(parts: Parts, *, cameras=(), model=None) -> SourceController:
    return SourceController(parts.control, parts.state, parts.notices, parts.prefs,
                            cameras=list(cameras), current_model=lambda: model)


# --- sources -------------------------------------------------------------------------------------------------------
def test_the_start_up_source_is_the_asked_one_else_the_last_else_a_camera_else_the_demo(parts, tmp_path):
    cam = CameraChoice("Front camera", "camera:/dev/video0")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    assert sources_of(parts, cameras=[cam]).initial("file:/asked.mp4") == "file:/asked.mp4"
    parts.prefs.settings.source = f"file:{clip}"
    assert sources_of(parts, cameras=[cam]).initial(None) == f"file:{clip}"
    parts.prefs.settings.source = "camera:/dev/video7"  # unplugged since
    assert sources_of(parts, cameras=[cam]).initial(None) == cam.spec
    parts.prefs.settings.source = f"file:{tmp_path / 'gone.mp4'}"
    assert sources_of(parts).initial(None) == DEMO_SOURCE
    assert parts.notices.has("source") and parts.notices.has("no-camera")


def test_a_running_source_is_remembered_with_the_recent_files(qtbot, parts):
    sources = sources_of(parts)
    sources.open_ahead(SMALL)
    assert parts.requests == [("requestOpen", SMALL)] and parts.state.source_label == "demo source (synthetic)"
    for n in range(10):
        with qtbot.waitSignal(sources.changed) as changed:
            parts.control.sourceSwitched.emit(f"clip{n}.mp4", f"file:/v/clip{n}.mp4")
    assert changed.args == ["clip9.mp4", "file:/v/clip9.mp4", "file:/v/clip8.mp4"]
    assert sources.spec == "file:/v/clip9.mp4"
    saved = parts.store.load()
    assert saved.source == "file:/v/clip9.mp4"
    assert saved.recent_files == [f"file:/v/clip{n}.mp4" for n in range(9, 1, -1)]  # newest first, eight kept


def test_a_failed_start_falls_back_to_the_demo_and_a_switch_waits_for_the_model(parts):
    model = object()  # only passed along: the controller thread is stopped
    waiting = sources_of(parts)
    waiting.switch(SMALL)  # a wish: the session keeps it until a model is wanted too (tests/test_live_session.py)
    assert parts.requests == [("requestSource", SMALL)] and parts.control.session.wanted_source == SMALL
    assert waiting.spec is None  # what runs: nothing yet
    parts.requests.clear()
    sources = sources_of(parts, model=model)
    sources.spec = "camera:/dev/video9"
    parts.control.failed.emit("start", "camera:/dev/video9 could not be opened")
    assert sources.spec == DEMO_SOURCE and parts.requests[-1] == ("requestStart", DEMO_SOURCE, model)
    assert "showing the demo source instead" in parts.notices.top().text
    parts.control.failed.emit("model", "bad weights")  # not about the source
    assert len(parts.requests) == 1 and not parts.notices.has("model")


# --- settings ------------------------------------------------------------------------------------------------------
def test_settings_apply_to_the_engine_or_stay_with_a_notice(qtbot, parts):
    old = parts.prefs.settings
    assert not parts.prefs.apply(dataclasses.replace(old, topk=0))  # the engine refuses top-0
    assert parts.prefs.settings is old and parts.notices.has("settings")
    with qtbot.waitSignal(parts.prefs.changed) as changed:
        assert parts.prefs.apply(dataclasses.replace(old, topk=2, stride_s=0.25))
    assert changed.args[1] is old and parts.engine.settings.topk == 2 and parts.store.load().stride_s == 0.25


# --- models --------------------------------------------------------------------------------------------------------
def test_a_bad_checkpoint_at_start_up_is_a_notice_and_untrained_weights_run(qtbot, parts, tmp_path):
    tasks = TaskRunner()
    quality = QualityController(parts.control.session, parts.state)
    parts.prefs.settings.arch = "slowfast_tiny"
    models = ModelController(parts.control, parts.engine, parts.state, parts.notices, parts.prefs, quality, tasks)
    bad = tmp_path / "bad.pyth"
    bad.write_bytes(b"not a checkpoint")
    try:
        with qtbot.waitSignal(models.ready, timeout=WAIT) as ready:
            models.open_checkpoint(bad)  # explicit: the error is shown, then (no model yet) untrained weights
        assert parts.notices.has("untrained") and models.model is ready.args[0].model
        assert not ready.args[0].info.trained and parts.state.model.arch == "slowfast_tiny"
        assert parts.requests == [("requestModel", models.loaded)]  # a wish: the session starts or switches
        labels = [label for label, _ in parts.notices.top().actions]
        assert labels == ["Download SLOWFAST_8x8_R50", "Open checkpoint…"]
        parts.control.modelSwitched.emit(ready.args[0])  # the engine runs it: remembered
        assert parts.store.load().arch == "slowfast_tiny" and parts.store.load().weights == ""
    finally:
        assert tasks.shutdown(5.0)


# --- recording -----------------------------------------------------------------------------------------------------
def test_recording_needs_video_and_repair_reports_an_empty_folder(qtbot, parts, tmp_path):
    tasks = TaskRunner()
    recording = RecordingController(parts.engine, parts.state, parts.notices, parts.prefs, tasks,
                                    sessions_root=tmp_path / "sessions", current_source=lambda: SMALL,
                                    model_info=lambda: None)
    try:
        assert not recording.start("first", ["wave"]) and parts.notices.has("record")
        assert not recording.busy and not recording.mark(0) and recording.stop() is None
        with qtbot.waitSignal(recording.repaired, timeout=WAIT) as repaired:
            recording.repair_unfinished()
        assert repaired.args == [[]] and not parts.notices.has("repair")
    finally:
        assert tasks.shutdown(5.0)


# --- shutdown order (issue 11 §6) ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model():
    model = create_model("slowfast_tiny", input_size=64)
    return ready_model(model, ModelRequest("slowfast_tiny"))


@pytest.mark.parametrize("answers", ["in_the_first_wait", "in_the_second_wait", "after_the_budget"])
def test_the_request_sender_stops_before_the_engine(qtbot, tiny_model, answers):
    """A start is inside the controller (its camera has not answered) when the engine side is stopped; the camera
    answers at a point of `stop_engine_side` chosen by an event, not by a delay: while the controller's own wait
    runs; after the engine was closed, caught by the second wait; after the whole 2 s budget, refused by the
    closed engine. Stopping the engine first, not waiting again, or only stopping (not closing) the engine left
    the late start's engine running."""
    opening, answer = threading.Event(), threading.Event()

    class SlowCamera(EngineController):
        def make_source(self, spec: str):
            opening.set()
            assert answer.wait(60)  # the device answers when the test says
            return parse_source(spec, realtime=True)

        def shutdown(self, timeout_ms: int = 1000) -> bool:
            if answers == "in_the_first_wait":
                answer.set()
            return super().shutdown(timeout_ms)

    engine = Engine(EngineSettings(backend="torch-eager"))
    if answers == "in_the_second_wait":
        close = engine.close

        def close_then_answer(timeout: float = 2.0) -> bool:
            ok = close(timeout)
            answer.set()  # the engine is closed and the controller's first wait is over
            return ok

        engine.close = close_then_answer  # type: ignore[method-assign]
    control = SlowCamera(engine)
    control.requestStart.emit(SMALL, tiny_model)
    qtbot.waitUntil(opening.is_set, timeout=WAIT)
    try:
        stopped = stop_engine_side(control, engine, timeout_s=2.0)
        if answers == "after_the_budget":
            assert not stopped  # the controller was still inside the camera when the budget ran out
        answer.set()  # after the budget: the camera answers now, to a closed engine
        control.wait()  # (were the controller still busy, it could start the engine now)
        assert not control.alive and not engine.running
    finally:
        answer.set()
        engine.stop()  # a failure must not leave the engine's threads keeping the test run alive


# --- wishes, not decisions (issue 22 §2) ------------------------------------------------------------------------------
def test_wishes_made_while_the_start_opens_its_camera_end_in_one_start_of_what_was_wanted_last(qtbot, tmp_path):
    """At start-up the camera takes a while to open; meanwhile the first model is ready, the viewer opens another
    source and a second model is ready. The window used to decide start-or-switch by reading `engine.running`
    (still False) and sent three starts, the last on the source the window still showed: the camera, so the
    viewer's switch was lost. The session now starts once, on what was wanted last."""
    camera = "camera:/dev/video-slow"
    opening, answer = threading.Event(), threading.Event()

    class SlowCamera(EngineController):
        def make_source(self, spec: str):
            if spec == camera:
                opening.set()
                assert answer.wait(60)  # the device answers when the test says
                return parse_source(SMALL, realtime=True)
            return parse_source(spec, realtime=True)

    engine = Engine(EngineSettings(backend="torch-eager"))
    control = SlowCamera(engine)
    state, notices, tasks = LiveState(), NoticeModel(), TaskRunner()
    prefs = SettingsController(SettingsStore(path=tmp_path / "settings.ini"), AppSettings(weights="", input_size=64),
                               control.session, notices)
    models = ModelController(control, engine, state, notices, prefs, QualityController(control.session, state), tasks)
    sources = SourceController(control, state, notices, prefs, cameras=[], current_model=lambda: models.loaded)
    started: list[str] = []
    control.started.connect(lambda _name, spec: started.append(spec))
    first, second = (ready_model(create_model("slowfast_tiny", input_size=64), ModelRequest("slowfast_tiny"))
                     for _ in range(2))
    other = "synthetic:80x60@15"
    try:
        sources.open_ahead(camera)  # start-up: the camera opens while the model loads
        qtbot.waitUntil(opening.is_set, timeout=WAIT)
        models.run_built(first)
        sources.switch(other)
        models.run_built(second)
        answer.set()
        qtbot.waitUntil(lambda: engine.running_backend().model is second.model, timeout=WAIT)
        qtbot.waitUntil(lambda: sources.spec == other, timeout=WAIT)
        assert started == [other]  # one start, no switch after it
        assert control.source is not None and control.source.info.width == 80
        assert not notices.has("source") and not notices.has("model")
    finally:
        answer.set()
        assert stop_engine_side(control, engine, timeout_s=5.0)
        assert tasks.shutdown(5.0)
