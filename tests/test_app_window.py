"""The main window with the real engine and a real (small-input) SlowFast: frames, predictions, sources
(File -> Open, Ctrl+O), errors, weights downloads (cancel, offline, success and the model switch), recording
with label keys and buttons, shutdown time, and video that keeps flowing while the model is busy.

Nothing here reaches the network: downloads come from a local HTTP server (helpers.network) through the
window's real download dialog and child process (helpers/local_registry_cli.py)."""

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
from app.sources import DEMO_SOURCE  # noqa: E402
from app.window import MainWindow  # noqa: E402
from slowfast_core import create_model  # noqa: E402
from slowfast_core.model.net import SlowFast  # noqa: E402
from slowfast_core.commands.demo import write_synthetic_clip  # noqa: E402
from slowfast_core.sessions import load_session  # noqa: E402
from slowfast_core.weights.download import CHUNK_SIZE  # noqa: E402

from helpers.models import probe_model, with_probe  # noqa: E402
from helpers.downloads import local_downloads  # noqa: E402
from helpers.network import LocalServer, closed_port_url  # noqa: E402

WEIGHTS = "SLOWFAST_8x8_R50"
SYNTHETIC = "synthetic:160x120@15"
INPUT_SIZE = 112
WAIT = 120_000  # ms: generous, the test machine is small and shared


@pytest.fixture(scope="module")
def base_model() -> SlowFast:
    """The tiny SlowFast preset (depth 14, 1/8 width, 4x8) with untrained weights at input size 112, built once
    per module (copied per test): the window does not care how wide the network is, and a tiny one keeps a
    loaded 2-core machine responsive."""
    return create_model("slowfast_tiny")  # runs at the settings' input size, INPUT_SIZE


@pytest.fixture
def make_window(qtbot, tmp_path, base_model):
    """Build hermetic windows: settings in tmp_path, sessions in tmp_path, no cameras, an injected model."""
    windows: list[MainWindow] = []

    def make(*, source: str | None = SYNTHETIC, model: SlowFast | None = None, backend: str = "torch-cpu",
             settings: AppSettings | None = None) -> MainWindow:
        store = SettingsStore(path=tmp_path / "settings.ini")
        s = settings or AppSettings(weights="", input_size=INPUT_SIZE, stride_s=0.5, labels=["wave", "clap", "jump"],
                                    backend=backend)  # pinned like the engine's: no background conversion
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


def let_frames_pass(qtbot, window: MainWindow, n: int) -> None:
    """Wait until the window has shown `n` more frames (time passes in frames, not in guessed milliseconds)."""
    shown = window.state.frames_shown
    qtbot.waitUntil(lambda: window.state.frames_shown >= shown + n, timeout=WAIT)


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
    assert w.status_panel.source.text().startswith("synthetic 160x120@15 · ")  # its size said once, by its name
    assert "160×120" in w.status_panel.source.toolTip()
    assert w.timeline.visible_predictions()  # the live timeline follows


def test_without_camera_the_demo_source_starts_with_a_notice(qtbot, make_window):
    w = make_window(source=None)
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    assert w.sources.spec == DEMO_SOURCE
    assert "No camera found" in messages_text(w)
    assert w.state.frame.image.shape == (480, 640, 3)


def test_switching_to_a_real_file_and_the_choice_persists(qtbot, make_window, tmp_path, realvideo):
    clip = realvideo / "test.mp4"
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    w.sources.open_file(clip)
    qtbot.waitUntil(lambda: w.state.frame is not None and w.state.frame.image.shape == (256, 340, 3), timeout=WAIT)
    # the new source's first frames and its name travel by separate signals: either may be shown first
    qtbot.waitUntil(lambda: w.state.source_label.endswith("test.mp4"), timeout=WAIT)
    assert w.state.source_label.startswith("file:")
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    stored = SettingsStore(path=tmp_path / "settings.ini").load()
    assert stored.source == f"file:{clip.resolve()}"
    assert stored.recent_files[0] == stored.source


def test_bad_file_and_bad_checkpoint_produce_messages(qtbot, make_window, tmp_path):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(b"this is not a video" * 100)
    w.sources.open_file(bad_video)
    qtbot.waitUntil(lambda: "broken.mp4" in messages_text(w), timeout=WAIT)
    assert w.messages.has("source")
    shown = w.state.frames_shown
    qtbot.waitUntil(lambda: w.state.frames_shown > shown + 3, timeout=WAIT)  # the old source goes on
    assert w.sources.spec == SYNTHETIC

    bad_ckpt = tmp_path / "garbage.pyth"
    bad_ckpt.write_bytes(b"\x00\x01not a checkpoint")
    model_before = w.models.model
    w.models.open_checkpoint(bad_ckpt)
    qtbot.waitUntil(lambda: w.messages.has("model"), timeout=WAIT)
    assert "garbage.pyth" in messages_text(w)
    assert w.models.model is model_before  # the running model stays
    missing = tmp_path / "nope" / "missing.pyth"
    w.models.open_checkpoint(missing)
    qtbot.waitUntil(lambda: "missing.pyth" in messages_text(w), timeout=WAIT)


def test_recording_with_label_keys_and_buttons_gives_a_valid_session(qtbot, make_window, tmp_path):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    assert w.recording.start("keys test", ["wave", "clap", "jump"])
    assert w.label_bar.isVisible() and len(w.label_bar.buttons) == 3
    assert not w.label_bar.end_button.isEnabled()  # nothing to end yet
    let_frames_pass(qtbot, w, 8)
    marks: list[tuple[str, float]] = []

    def mark(do, expect: str) -> None:
        do()
        marks.append((expect, w.state.frame.timestamp - w.recording.recorder.start_monotonic))
        assert w.state.active_label == (expect or None)
        assert [b.isChecked() for b in w.label_bar.buttons] == [label == expect for label in w.label_bar.labels]
        assert w.label_bar.end_button.isEnabled() == bool(expect)
        let_frames_pass(qtbot, w, 6)

    def key(k):
        return lambda: qtbot.keyClick(w, k)

    def button(b):
        return lambda: qtbot.mouseClick(b, Qt.MouseButton.LeftButton)

    mark(key(Qt.Key.Key_1), "wave")
    mark(key(Qt.Key.Key_1), "")  # the same key ends it
    mark(button(w.label_bar.buttons[1]), "clap")  # the label buttons take the same path as the keys
    mark(key(Qt.Key.Key_3), "jump")  # another key switches label
    mark(button(w.label_bar.end_button), "")  # End label
    mark(button(w.label_bar.buttons[0]), "wave")
    mark(button(w.label_bar.buttons[0]), "")  # the same button again ends it
    mark(key(Qt.Key.Key_2), "clap")
    mark(key(Qt.Key.Key_Space), "")  # Space ends it
    with qtbot.waitSignal(w.recording.stopped, timeout=WAIT) as blocker:
        qtbot.keyClick(w, Qt.Key.Key_R)  # R stops the recording
    info = blocker.args[0]
    assert info is not None and info.state == "finished" and info.error is None
    session = load_session(info.path)
    assert [s.label for s in session.labels] == ["wave", "clap", "jump", "wave", "clap"]
    t = [at for _, at in marks]
    expected = [(t[0], t[1]), (t[2], t[3]), (t[3], t[4]), (t[5], t[6]), (t[7], t[8])]
    for seg, (start, end) in zip(session.labels, expected):
        assert seg.start == pytest.approx(start, abs=1e-3) and seg.end == pytest.approx(end, abs=1e-3)
    times = session.frames.time
    # every frame shown while recording is in the video; the first one counted may have been captured just
    # before the recording began (it was on its way to the screen), hence the one frame of slack
    assert len(times) >= 8 + 6 * len(marks) - 1 and np.all(np.diff(times) > 0)
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
    assert not w.label_bar.isVisible()
    assert SettingsStore(path=tmp_path / "settings.ini").load().labels == ["wave", "clap", "jump"]
    # the Sessions window lists it and replays it, also after being closed and opened again
    for _ in range(2):
        w.show_sessions()
        sw = w.sessions_window
        assert sw.list.count() == 1 and sw.session.path == info.path
        assert [b.label for b in sw.labels_timeline.bands] == ["wave", "clap", "jump", "wave", "clap"]
        qtbot.waitUntil(lambda: sw.canvas._image is not None, timeout=WAIT)
        sw.done(0)
        assert not sw.isVisible()


def test_closing_while_inference_runs_stops_every_thread_quickly(qtbot, make_window):
    # each real window takes 0.6 s (the Fast pathway alone at 64²: the delay, not the machine's load, sets
    # it), far slower than the frames: a close lands inside one
    slow = probe_model(arch="fast_32x2_r50", size=64, delay_s=0.6)
    w = make_window(model=slow, backend="torch-eager")
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: slow.probe.busy, timeout=WAIT)  # a window is inside the model now
    assert any(name.startswith("slowfast") for name in engine_threads())
    t0 = time.monotonic()
    w.close()
    elapsed = time.monotonic() - t0
    assert not w.isVisible()
    assert elapsed < 2.0, f"closing took {elapsed:.2f} s"  # the close bound
    assert engine_threads() == [], engine_threads()
    assert not w.control.alive


def test_video_keeps_flowing_while_the_model_is_busy(qtbot, make_window, base_model):
    """Display never waits for inference: while a window is held inside the model, frames go on and no
    prediction is published; when it is released, its prediction arrives. (How long the event loop stalls is
    a speed figure, measured by a bench, not asserted here.)"""
    busy = with_probe(base_model)
    w = make_window(model=busy, backend="torch-eager")
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    busy.probe.hold()
    try:
        entered = busy.probe.entered
        qtbot.waitUntil(lambda: busy.probe.entered > entered, timeout=WAIT)  # the next window is held in the model
        let_frames_pass(qtbot, w, 2)  # the prediction published before it has reached the window too
        held_id = w.state.prediction.id
        let_frames_pass(qtbot, w, 15)  # a second of video at 15 fps while the model is busy
        assert w.state.prediction.id == held_id  # nothing was published meanwhile
        assert busy.probe.busy
    finally:
        busy.probe.release()
    qtbot.waitUntil(lambda: w.state.prediction.id > held_id, timeout=WAIT)


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
        # one banner: the missing weights (with Download / Open checkpoint); "untrained" waits in the menu
        assert "slowfast weights download" in w.messages.shown()[1]
        assert w.messages.more_button.text().endswith("1 more notice")
        qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
        assert w.models.loaded.input_size == INPUT_SIZE
    finally:
        w.shutdown()


def test_download_can_be_cancelled_and_offline_failure_is_a_message(qtbot, make_window, tmp_path, monkeypatch,
                                                                     local_server: LocalServer):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # the server sends the first MiB of 3, then stalls: the download is under way when it is cancelled
    urls = {WEIGHTS: local_server.serve(f"/zoo/{WEIGHTS}.pyth", bytes(3 * CHUNK_SIZE), "stall",
                                        stall_after=CHUNK_SIZE)}
    local_downloads(monkeypatch, urls)
    w = make_window()
    w.choose_weights(WEIGHTS)
    dialog = w.download_dialog
    assert dialog.isVisible() and dialog.process.state() != dialog.process.ProcessState.NotRunning

    def partial_bytes() -> int:
        return sum(p.stat().st_size for p in (tmp_path / "torch").rglob("*.part") if p.is_file())

    qtbot.waitUntil(lambda: partial_bytes() >= CHUNK_SIZE, timeout=WAIT)  # a partial file holds the first MiB
    qtbot.waitUntil(lambda: "received" in dialog.amount.text(), timeout=WAIT)  # and the dialog says so
    dialog.cancel()
    assert not dialog.isVisible() and dialog.process.state() == dialog.process.ProcessState.NotRunning
    assert "cancelled" in messages_text(w)
    assert not list((tmp_path / "torch").rglob("*.part"))  # cancel removed it
    assert not (tmp_path / "torch" / "hub" / "checkpoints" / f"{WEIGHTS}.pyth").exists()
    # let one run to its end on a machine without network: the banner explains it
    urls[WEIGHTS] = closed_port_url(f"/zoo/{WEIGHTS}.pyth")
    w.choose_weights(WEIGHTS)
    dialog = w.download_dialog
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    assert dialog.result() == dialog.DialogCode.Rejected
    assert w.messages.has("download")
    text = messages_text(w)
    assert "no network" in text and f"{WEIGHTS}.pyth" in text
    assert not w.state.model.trained  # the untrained model runs on


def test_downloaded_weights_replace_the_running_model(qtbot, make_window, tmp_path, monkeypatch,
                                                      local_server: LocalServer, checkpoint_8x8):
    """Model menu -> weights not yet downloaded: the dialog downloads them, the window switches the running
    engine to them (input size kept), the untrained warning goes, and the choice is saved."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    local_downloads(monkeypatch, {WEIGHTS: local_server.serve(f"/zoo/{WEIGHTS}.pyth", checkpoint_8x8.read_bytes())})
    w = make_window()
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    assert w.messages.has("untrained")
    with qtbot.waitSignal(w.control.modelSwitched, timeout=WAIT) as switched:
        w.choose_weights(WEIGHTS)
    assert not w.download_dialog.isVisible() and w.download_dialog.result() == w.download_dialog.DialogCode.Accepted
    assert (tmp_path / "torch" / "hub" / "checkpoints" / f"{WEIGHTS}.pyth").read_bytes() == \
        checkpoint_8x8.read_bytes()
    loaded = switched.args[0]
    assert loaded.model is w.models.model and loaded.info.weights == WEIGHTS and loaded.info.trained
    assert w.models.loaded.input_size == INPUT_SIZE
    assert w.state.model.trained and not w.messages.has("untrained") and not w.messages.has("download")
    first_after = w.state.prediction.id if w.state.prediction is not None else -1
    qtbot.waitUntil(lambda: w.state.prediction is not None and w.state.prediction.id > first_after + 1,
                    timeout=WAIT)  # the engine goes on with the new model
    assert SettingsStore(path=tmp_path / "settings.ini").load().weights == WEIGHTS
    assert local_server.requests == [f"/zoo/{WEIGHTS}.pyth"]


def test_ctrl_o_opens_a_video_file_and_plays_it(qtbot, make_window, tmp_path, monkeypatch):
    """File -> Open video file (Ctrl+O): the file dialog offers videos, and the chosen clip becomes the source.

    The modal QFileDialog itself is Qt's; offscreen it sometimes refused accept() and its modal loop hung the
    suite (pytest-timeout cannot end it), so the person choosing a file is stood in for at getOpenFileName."""
    clip = tmp_path / "clips" / "opened.avi"
    clip.parent.mkdir()
    write_synthetic_clip(clip, seconds=3.0, fps=15, width=192, height=144)
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    seen: list[list[str]] = []  # the name filters of each file dialog that came up

    def choose_clip(parent, caption, start, filters):  # what a person picking the clip returns
        seen.append(filters.split(";;"))
        return str(clip), filters.split(";;")[0]

    import app.window as window_module

    monkeypatch.setattr(window_module.QFileDialog, "getOpenFileName", staticmethod(choose_clip))
    qtbot.keyClick(w, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert seen, "Ctrl+O did not open a file dialog"
    assert any("*.avi" in f and "*.mp4" in f for f in seen[0])
    qtbot.waitUntil(lambda: w.state.frame is not None and w.state.frame.image.shape == (144, 192, 3),
                    timeout=WAIT)
    # the switch is reported by a queued signal that may arrive after the new source's first frames
    qtbot.waitUntil(lambda: w.sources.spec == f"file:{clip.resolve()}", timeout=WAIT)
    assert w.state.source_label.endswith("opened.avi")
    assert SettingsStore(path=tmp_path / "settings.ini").load().recent_files[0] == w.sources.spec
    assert w.open_file_action.shortcut().toString() == "Ctrl+O"
    assert w.open_file_action in w.menuBar().actions()[0].menu().actions()  # File -> Open video file…


def test_a_full_disk_stops_the_recording_with_a_message_and_keeps_it_readable(qtbot, make_window):
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2, timeout=WAIT)
    assert w.recording.start("disk", ["wave"])
    qtbot.waitUntil(lambda: w.recording.recorder.frames_written >= 15, timeout=WAIT)  # one closed segment (1 s at 15 fps)
    written = w.recording.recorder.frames_written
    with qtbot.waitSignal(w.recording.stopped, timeout=WAIT) as blocker:
        w.recording.recorder.min_free_bytes = 10**18  # the recorder's free-space check now sees a full disk
    info = blocker.args[0]
    assert "disk almost full" in messages_text(w) and w.messages.has("record")
    assert w.recording.recorder is None and w.state.recording_name is None and not w.label_bar.isVisible()
    session = load_session(info.path)
    assert len(session.frames) >= written and session.video_path is not None  # what was on disk is kept


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
    new = dataclasses.replace(w.prefs.settings, topk=2, threshold=0.5, smoothing=1, input_size=160)
    w.prefs.apply(new)
    assert w.engine.settings.topk == 2 and w.engine.settings.threshold == 0.5
    assert w.state.threshold == 0.5
    before = w.models.model
    qtbot.waitUntil(lambda: w.models.loaded.input_size == 160, timeout=WAIT)  # the same network at another input size
    assert w.models.model is before  # nothing copied
    running = w.engine.running_backend
    qtbot.waitUntil(lambda: running().preprocessing is not None and running().preprocessing.short_side == 160,
                    timeout=WAIT)  # built and warm in the worker
    qtbot.waitUntil(lambda: w.state.prediction is not None and len(w.state.prediction.topk) == 2, timeout=WAIT)
    assert len(overlay_content(w.state).rows) == 2
    stored = SettingsStore(path=tmp_path / "settings.ini").load()
    assert (stored.topk, stored.threshold, stored.smoothing, stored.input_size) == (2, 0.5, 1, 160)


def test_a_start_in_flight_when_the_window_closes_leaves_no_engine_running(qtbot, make_window, tmp_path, monkeypatch):
    """Issue 11 §6: whoever sends requests stops first, then the engine. The remembered file is gone, so the window
    falls back to the demo source; the person closes the window while that source is still opening (a fake camera
    that answers after half a second). Stopping the engine first found nothing to stop, and the controller then
    started the engine after the window had closed; now the controller stops first (bounded), then the engine."""
    from app.engine_control import EngineController
    from slowfast_core.video.source_text import parse_source

    opening = threading.Event()

    def slow_demo(self, spec: str):
        if spec == DEMO_SOURCE:
            opening.set()
            threading.Event().wait(0.5)  # the device answers late: the controller is busy, not the test
            return parse_source(SYNTHETIC, realtime=True)
        return parse_source(spec, realtime=True, loop=self.loop_files)

    monkeypatch.setattr(EngineController, "make_source", slow_demo)
    w = make_window(source=f"file:{tmp_path / 'gone.mp4'}")
    qtbot.waitUntil(opening.is_set, timeout=WAIT)  # the fallback start is inside the controller now
    w.close()
    assert not w.isVisible()
    assert not w.engine.running
    assert [n for n in engine_threads() if n.startswith("slowfast")] == []
    assert w.close_seconds is not None and w.close_seconds < 2.0  # each stop bounded


def test_closing_while_recording_saves_the_session_first(qtbot, make_window):
    """Nothing recorded is lost: a close during a recording waits (in the event loop) for its video, then closes."""
    w = make_window()
    qtbot.waitUntil(lambda: w.state.frames_shown >= 2 and w.engine.running, timeout=WAIT)
    assert w.recording.start("closing", ["wave"])
    qtbot.waitUntil(lambda: w.recording.recorder.frames_written >= 5, timeout=WAIT)
    with qtbot.waitSignal(w.recording.stopped, timeout=WAIT) as stopped:
        w.close()
        assert w.isVisible() and w.recording.busy  # not closed yet: the video is being finished
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=WAIT)
    info = stopped.args[0]
    assert info is not None and info.frames >= 5 and load_session(info.path).video_path is not None
    assert not w.engine.running and w.close_seconds is not None
