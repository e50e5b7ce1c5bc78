"""The GUI's building blocks without an engine: settings, the engine->Qt bridge, overlay, timelines, banners."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402
from PySide6.QtWidgets import QPushButton  # noqa: E402

from app.bridge import EngineBridge  # noqa: E402
from app.dialogs import RecordDialog, SettingsDialog  # noqa: E402
from app.message_bar import Banner, MessageBar  # noqa: E402
from app.notices import MAX_NOTICES, Notice, order_notices  # noqa: E402
from app.settings import AppSettings, SettingsStore  # noqa: E402
from app.state import LiveState  # noqa: E402
from slowfast_core.weights.api import ModelInfo  # noqa: E402
from app.status_panel import StatusPanel, status_fields  # noqa: E402
from app.timeline import LiveTimeline, leading_classes, prediction_bands  # noqa: E402
from app.video_view import VideoView, overlay_content  # noqa: E402
from slowfast_core.overlay.content import NO_ACTION_TEXT, UNTRAINED_TEXT  # noqa: E402
from slowfast_core.stream.quality import BUDGET_MS, TARGET_UPDATES_PER_S  # noqa: E402
from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction  # noqa: E402

from helpers import media  # noqa: E402


def make_prediction(pid: int, end: float, topk: tuple[tuple[str, float], ...], *, label: str | None = "wave",
                    span: float = 2.0) -> Prediction:
    """A prediction for the `span` seconds up to `end`."""
    return media.make_prediction(pid, end - span, end, topk, label=label, last_index=10)


def make_frame(index: int, ts: float, w: int = 160, h: int = 120) -> FramePacket:
    return media.frame_packet(index, ts, width=w, height=h)


class FakeClock:
    """A settable monotonic clock for staleness checks (the state takes any clock)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# --- settings -----------------------------------------------------------------------------------------------
def test_settings_round_trip_through_an_ini_file(tmp_path):
    path = tmp_path / "s.ini"
    store = SettingsStore(path=path)
    s = AppSettings(source="file:/x/clip.mp4", weights="", device="cpu", input_size=112, stride_s=0.75, topk=3,
                    threshold=0.35, smoothing=5, labels=["jump"], sessions_root=str(tmp_path))
    store.save(s)
    assert path.is_file()
    loaded = SettingsStore(path=path).load()
    assert loaded == s  # the single label survives (QSettings returns one-element lists as a plain string)


def test_settings_replace_out_of_range_values_with_defaults(tmp_path):
    path = tmp_path / "s.ini"
    qs = QSettings(str(path), QSettings.Format.IniFormat)
    qs.setValue("topk", "99")
    qs.setValue("threshold", "abc")
    qs.setValue("device", "tpu")
    qs.setValue("labels", [" a ", "", "b"])
    qs.sync()
    loaded = SettingsStore(path=path).load()
    default = AppSettings()
    assert (loaded.topk, loaded.threshold, loaded.device) == (default.topk, default.threshold, default.device)
    assert loaded.labels == ["a", "b"]


def test_settings_dialog_returns_edited_values(qtbot):
    dialog = SettingsDialog(AppSettings(), cuda_available=False)
    qtbot.addWidget(dialog)
    dialog.topk.setValue(2)
    dialog.threshold.setValue(0.5)
    dialog.input_size.setCurrentIndex(dialog.input_size.findData(112))
    out = dialog.result_settings()
    assert (out.topk, out.threshold, out.input_size) == (2, 0.5, 112)
    assert not dialog.device.model().item(2).isEnabled()  # CUDA greyed out without a GPU
    # Auto's tooltip says what Auto keeps now (LiveTarget), with its numbers
    tip = dialog.input_size.toolTip()
    assert f"at least {TARGET_UPDATES_PER_S:g} updates a second" in tip and f"{BUDGET_MS:.0f} ms behind" in tip
    assert "700" not in tip
    assert dialog.result_detection() == (False, None) and not dialog.detector.isEnabled()


def test_record_dialog_validates_names_and_labels(qtbot):
    dialog = RecordDialog(["wave", "clap"], name="s1")
    qtbot.addWidget(dialog)
    assert dialog.problem() is None and dialog.labels() == ["wave", "clap"]
    dialog.list.item(1).setText("wave")
    assert "twice" in dialog.problem()
    dialog.name_edit.setText("  ")
    assert "name" in dialog.problem()


# --- bridge -------------------------------------------------------------------------------------------------
def test_bridge_keeps_only_the_newest_frame_and_notifies_once(qtbot):
    bridge = EngineBridge()
    notices = []
    bridge.frameAvailable.connect(lambda: notices.append(threading.get_ident()))

    def produce():
        for i in range(200):
            bridge.on_frame(make_frame(i, float(i)))

    t = threading.Thread(target=produce)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(notices) >= 1, timeout=5000)
    frame = bridge.take_frame()
    assert frame is not None and frame.index == 199  # newest only, nothing queued
    assert len(notices) == 1  # one pending notice for 200 frames
    assert notices[0] == threading.get_ident()  # delivered on the GUI thread (queued)
    assert bridge.take_frame() is None
    bridge.on_frame(make_frame(200, 200.0))
    qtbot.waitUntil(lambda: len(notices) == 2, timeout=5000)


def test_bridge_forwards_predictions_status_and_errors_to_the_gui_thread(qtbot):
    bridge = EngineBridge()
    got: list[tuple[str, object, int]] = []
    bridge.predictionReady.connect(lambda p: got.append(("p", p, threading.get_ident())))
    bridge.errorRaised.connect(lambda e: got.append(("e", e, threading.get_ident())))
    pred = make_prediction(1, 5.0, (("wave", 0.9),))
    err = EngineError(where="capture", message="camera gone: reconnect it", fatal=True)
    t = threading.Thread(target=lambda: (bridge.on_prediction(pred), bridge.on_error(err)))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert [g[1] for g in got] == [pred, err]
    assert all(g[2] == threading.get_ident() for g in got)
    bridge.close()
    t = threading.Thread(target=lambda: (bridge.on_prediction(pred), bridge.on_error(err)))
    t.start()
    t.join()
    QCoreApplication.sendPostedEvents()  # delivers whatever the thread queued to the GUI thread: nothing
    assert len(got) == 2  # nothing after close


# --- overlay ------------------------------------------------------------------------------------------------
def test_overlay_shows_topk_label_and_window_span(qtbot):
    clock = FakeClock(100.0)
    state = LiveState(clock=clock)
    state.set_model(ModelInfo(arch="slowfast_8x8_r50", weights="W", trained=True, num_classes=400))
    state.set_frame(make_frame(0, 90.0))
    state.set_options(threshold=0.2, topk=3, stride_s=0.5)
    pred = make_prediction(1, 99.5, (("wave", 0.7), ("clap", 0.2), ("jump", 0.05), ("run", 0.01)))
    view = VideoView(state)
    qtbot.addWidget(view)
    with qtbot.waitSignal(state.predictionChanged):
        state.add_prediction(pred)
    c = overlay_content(view.state)
    assert c.headline == "wave" and c.confidence == pytest.approx(0.7)
    assert [r[0] for r in c.rows] == ["wave", "clap", "jump"]  # top-k cut to k=3
    assert "7.5–9.5 s" in c.footer and not c.stale and not c.untrained


def test_overlay_no_confident_action_stale_and_untrained(qtbot):
    clock = FakeClock(100.0)
    state = LiveState(clock=clock)
    state.set_model(ModelInfo(arch="slowfast_8x8_r50", trained=False))
    state.add_prediction(make_prediction(1, 99.0, (("wave", 0.1), ("clap", 0.05)), label=None))
    c = overlay_content(state)
    assert c.headline == NO_ACTION_TEXT and c.confidence is None and c.untrained and not c.stale
    clock.t = 99.0 + state.stale_after() + 0.5
    assert overlay_content(state).stale
    view = VideoView(state)
    qtbot.addWidget(view)
    view.resize(640, 400)
    img = view.grab().toImage()  # paints without error, red warning present in the top-left panel
    reds = sum(1 for x in range(10, 260, 4) for y in range(10, 50, 2)
               if (c := img.pixelColor(x, y)).red() > 180 and c.green() < 100)
    assert reds > 10
    assert UNTRAINED_TEXT.startswith("UNTRAINED")


def test_video_view_keeps_the_aspect_ratio(qtbot):
    state = LiveState()
    view = VideoView(state)
    qtbot.addWidget(view)
    view.resize(800, 400)
    state.set_frame(make_frame(0, 1.0, w=320, h=240))
    r = view.image_rect()
    assert r.height() == pytest.approx(400) and r.width() == pytest.approx(400 * 320 / 240)
    assert r.left() == pytest.approx((800 - r.width()) / 2)


def test_state_drops_older_predictions_and_resets_on_source_change():
    state = LiveState(clock=FakeClock(10.0))
    state.add_prediction(make_prediction(2, 9.0, (("a", 0.5),)))
    state.add_prediction(make_prediction(1, 8.0, (("b", 0.5),)))  # an older window arrives late
    assert state.prediction.id == 2 and len(state.history) == 1
    state.reset_source("synthetic")
    assert state.prediction is None and not state.history and state.origin is None


# --- timeline -----------------------------------------------------------------------------------------------
def test_prediction_bands_cover_time_and_merge_equal_labels():
    preds = [make_prediction(i, 10.0 + 0.5 * i, (("wave", 0.8),), label="wave" if i < 3 else None) for i in range(5)]
    bands = prediction_bands(preds)
    assert [(b.label, b.start, b.end) for b in bands] == [("wave", 8.0, 11.0), (None, 11.0, 12.0)]
    assert leading_classes([make_prediction(0, 1, (("a", 0.2), ("b", 0.9))), make_prediction(1, 2, (("c", 0.5),))]) \
        == ["b", "c", "a"]


def test_painting_keeps_none_alive(qtbot):
    """Repainting the overlay and timeline must not leak or drop references to None.

    PySide6 6.12.0's QPainter.setPen dropped one reference to None per call; on Python 3.11 (None is not
    immortal) the live window aborted with "deallocating None" within a minute. pyproject.toml excludes it.
    The count of None's references can see such a loss only where None is mortal: a planted loss of 10 (and
    its undoing) shows first that it can; where it cannot (Python >= 3.12), the check says so and skips.
    """
    import ctypes
    import sys

    def lost_by(action) -> int:
        before = sys.getrefcount(None)
        action()
        return before - sys.getrefcount(None)

    planted = lost_by(lambda: [ctypes.pythonapi.Py_DecRef(ctypes.py_object(None)) for _ in range(10)])
    for _ in range(10):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))  # give the planted references back
    if planted == 0:
        pytest.skip("None is immortal on this Python: a reference lost on it can neither be seen nor do harm")
    assert planted == 10

    state = LiveState(clock=FakeClock(100.0))
    state.set_model(ModelInfo(arch="slowfast_8x8_r50", weights=None, trained=False, num_classes=400))
    state.set_frame(make_frame(0, 99.0, 320, 240))
    state.set_options(threshold=0.2, topk=5, stride_s=0.5)
    for i in range(5):
        state.add_prediction(make_prediction(i, 95.0 + i, (("wave", 0.7), ("clap", 0.2), ("jump", 0.05))))
    view, timeline = VideoView(state), LiveTimeline(state)
    qtbot.addWidget(view)
    qtbot.addWidget(timeline)
    view.resize(640, 480)
    timeline.resize(600, 100)
    view.grab(), timeline.grab()  # first paint: caches, fonts
    lost = lost_by(lambda: [(view.grab(), timeline.grab()) for _ in range(50)])
    assert abs(lost) < 50  # 6.12.0 lost about 40 per overlay paint


def test_live_timeline_follows_the_state(qtbot):
    clock = FakeClock(50.0)
    state = LiveState(clock=clock)
    timeline = LiveTimeline(state)
    qtbot.addWidget(timeline)
    timeline.resize(600, 100)
    assert timeline.visible_predictions() == []
    with qtbot.waitSignal(state.predictionChanged):
        state.add_prediction(make_prediction(1, 49.0, (("wave", 0.8),)))
    state.add_prediction(make_prediction(2, 10.0 + 49.0 - 40.0, (("old", 0.8),)))  # older: ignored
    assert [p.id for p in timeline.visible_predictions()] == [1]
    clock.t = 49.0 + 31.0
    assert timeline.visible_predictions() == []  # scrolled out of the 30 s span
    timeline.grab()


# --- banners and status ---------------------------------------------------------------------------------------
def test_message_bar_dedupes_by_key_and_dismisses(qtbot):
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar.show_message("camera gone", "error", key="engine")
    bar.show_message("camera gone", "error", key="engine")
    bar.show_message("file unreadable", "error", key="engine")
    bar.show_message("no camera found", "info")
    assert bar.messages() == [("error", "file unreadable"), ("info", "no camera found")]
    bar.dismiss("engine")
    assert bar.messages() == [("info", "no camera found")]
    for i in range(20):
        bar.show_message(f"m{i}", "warning")
    assert len(bar.messages()) == MAX_NOTICES  # bounded; the least important went first
    assert ("info", "no camera found") not in bar.messages()


def test_notices_order_errors_then_what_blocks_meaningful_output_then_newest():
    n = [Notice("no-camera", "no camera", "info", seq=1), Notice("untrained", "untrained", "warning", seq=2),
         Notice("weights", "not downloaded", "warning", seq=3), Notice("record", "saved", "info", seq=4),
         Notice("engine:capture", "camera lost", "error", seq=5), Notice("source", "bad file", "error", seq=6)]
    assert [x.key for x in order_notices(n)] == ["source", "engine:capture", "weights", "untrained", "record",
                                                 "no-camera"]
    picked = [Notice("no-camera", "no camera", "info", seq=1, pinned=True), *n[1:]]
    assert [x.key for x in order_notices(picked)][:2] == ["no-camera", "source"]  # picked from the menu


def test_first_start_notices_make_one_banner_with_actions_and_a_menu_for_the_rest(qtbot):
    """The three first-start notices (no camera, weights not downloaded, untrained): one banner, the most
    important with its buttons; the other two in the status-bar menu, from which one can be brought up."""
    bar = MessageBar()
    qtbot.addWidget(bar)
    clicked: list[str] = []
    bar.show_message("No camera found: showing the demo source.", "info", key="no-camera")
    bar.show_message("Untrained weights: predictions are meaningless.", "warning", key="untrained")
    bar.show_message("SLOWFAST_8x8_R50 is not downloaded.", "warning", key="weights",
                     actions=[("Download", lambda: clicked.append("download")),
                              ("Open checkpoint…", lambda: clicked.append("open"))])
    bar.show()
    assert bar.shown() == ("warning", "SLOWFAST_8x8_R50 is not downloaded.")
    banners = bar.findChildren(Banner)
    visible = [b for b in banners if b.isVisible()]
    assert len(visible) == 1
    buttons = {b.text(): b for b in visible[0].findChildren(QPushButton)}
    buttons["Download"].click()
    assert clicked == ["download"]
    assert bar.more_button.text().endswith("2 more notices")
    menu_texts = [a.text() for a in bar.more_button.menu().actions()]
    assert len(menu_texts) == 2 and "Untrained" in menu_texts[0] and "No camera" in menu_texts[1]
    bar.more_button.menu().actions()[1].trigger()  # the person picks "no camera" from the menu
    assert bar.shown() == ("info", "No camera found: showing the demo source.")
    bar.dismiss("no-camera")
    assert bar.shown()[1].startswith("SLOWFAST_8x8_R50")
    bar.dismiss("weights")
    bar.dismiss("untrained")
    assert bar.shown() is None and not bar.isVisible() and bar.more_button.isHidden()


def test_status_fields_show_engine_figures(qtbot):
    state = LiveState()
    panel = StatusPanel(state)
    qtbot.addWidget(panel)
    state.set_model(ModelInfo(arch="slowfast_8x8_r50", trained=False))
    status = EngineStatus(state="running", source="file:/a/b/clip.mp4", width=340, height=256, capture_fps=29.7,
                          frames_read=10, frames_dropped=0, frames_late=0, windows_done=3, windows_dropped=2,
                          model="slowfast_8x8_r50", device="cpu", backend="torch-eager",
                          inference_ms_p50=812.4, end_to_end_ms_p50=990.0)
    with qtbot.waitSignal(state.statusChanged):
        state.set_status(status)
    f = status_fields(state)
    assert f["source"] == "clip.mp4" and f["resolution"] == "340×256" and f["fps"] == "29.7 fps"
    assert (f["device"], f["backend"], f["inference"], f["end_to_end"], f["dropped"]) == \
        ("cpu", "torch-eager", "812 ms", "990 ms", "2")
    assert "untrained" in panel.model.text() and "812 ms" in panel.timing.text()


def test_the_status_bar_shows_source_and_model_whole_at_the_default_width(qtbot):
    """At the window's default width (1100 px, of which ~820 px are the panel's beside the notice and Auto labels)
    the demo's source and model are readable, not 'synthetic 640…80' / 'slowfast_8x8_…' as they were."""
    from PySide6.QtGui import QFontMetrics

    state = LiveState()
    panel = StatusPanel(state)
    qtbot.addWidget(panel)
    state.set_model(ModelInfo(arch="slowfast_8x8_r50", trained=False))
    state.set_status(EngineStatus(state="running", source="synthetic 640x480@30", width=640, height=480,
                                  capture_fps=29.9, frames_read=10, frames_dropped=0, frames_late=0, windows_done=3,
                                  windows_dropped=0, model="slowfast_8x8_r50", device="cpu", backend="openvino",
                                  inference_ms_p50=812.4, end_to_end_ms_p50=990.0))
    panel.resize(820, 24)
    panel.show()
    qtbot.waitUntil(lambda: panel.source.width() > 40)
    assert panel.source.text() == "synthetic 640x480@30 · 29.9 fps"  # the size once: the name says it
    assert panel.model.text() == "slowfast_8x8_r50 · untrained · openvino"  # openvino implies the CPU
    for label in (panel.source, panel.model):
        assert label.width() >= QFontMetrics(label.font()).horizontalAdvance(label.text()), label.text()


def test_command_line_parses_and_turns_paths_into_file_sources(tmp_path):
    from app.main import build_parser, normalize_source

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    args = build_parser().parse_args(["--source", str(clip), "--weights", "", "--input-size", "112",
                                      "--settings", str(tmp_path / "s.ini")])
    assert args.weights == "" and args.input_size == 112
    assert normalize_source(args.source) == f"file:{clip.resolve()}"
    assert normalize_source("synthetic:320x240@15") == "synthetic:320x240@15"
    assert normalize_source("camera:0") == "camera:0"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--device", "tpu"])
