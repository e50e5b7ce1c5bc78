"""The window's Detection (who is doing what, issue 23): the real window (offscreen), the real engine, a tiny
SlowFast and the tiny detection preset on the multi-actor scripted scene, the scene's own boxes standing in for
a person detector (`--detector scene:3`; nothing can be downloaded here).

View -> Detection switches the running engine to the per-person path and back (through the engine controller's
wish, `requestPeople`); the view paints the people's display list (`overlay/people.py`, the one `predict
--annotate` draws): one box per actor, in its track colour, with ids that stay put; "no person in view" when
the detector finds nobody; the status bar counts the people and shows the detector's cost.

The Model menu's detection model: the registry's per-person model (downloaded by the window's real download
dialog and child from a local HTTP server), "Open detection checkpoint…" for a `slowfast train --task detect`
file, each turning Detection on with it; a classifier picked there (or a detection checkpoint picked as the
classifier) is one line and what runs goes on. The choice is saved in the settings INI and restored at the next
start; `slowfast-app --detect*` flags override it for one run without being saved. The Settings dialog's
Detection checkbox and Person detector (the Model menu's list) go the same ways; Person detector -> Default,
not cached, is downloaded by the window's dialog (a real torchvision state dict from the local server).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from app.detection import startup_choice  # noqa: E402
from app.engine_control import DetectionRequest  # noqa: E402
from app.settings import DEFAULT_DETECT_ARCH, AppSettings, SettingsStore  # noqa: E402
from app.window import MainWindow  # noqa: E402
from slowfast_core import create_model  # noqa: E402
from slowfast_core.weights.detection import save_detection_model  # noqa: E402
from slowfast_core.weights.native import save_model  # noqa: E402

from helpers.downloads import local_downloads  # noqa: E402
from helpers.network import LocalServer, closed_port_url  # noqa: E402
from slowfast_core.detect.people import PeopleStep  # noqa: E402
from slowfast_core.detect.scene_boxes import SceneBoxesDetector  # noqa: E402
from slowfast_core.overlay.colors import PANEL, track_rgba  # noqa: E402
from slowfast_core.overlay.layout import Line, Text  # noqa: E402
from slowfast_core.overlay.people import NOBODY  # noqa: E402
from slowfast_core.weights.detection import create_detection_model  # noqa: E402

ACTORS = "synthetic:actions:0-3,actors=3"
REQUEST = DetectionRequest(arch="slowfast_tiny_detection", detector="scene:3")
WAIT = 120_000  # ms: generous, the machine is small and shared


def base_settings(**kw) -> AppSettings:
    return AppSettings(weights="", input_size=64, stride_s=0.5, backend="torch-cpu", **kw)


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Windows on one settings INI (tmp_path/settings.ini). detection/detect None: what the settings remember."""
    windows: list[MainWindow] = []

    def make(*, detect: bool | None, detection: DetectionRequest | None = REQUEST,
             settings: AppSettings | None = None) -> MainWindow:
        w = MainWindow(store=SettingsStore(path=tmp_path / "settings.ini"), settings=settings or base_settings(),
                       sessions_root=tmp_path / "sessions", start_source=ACTORS, model=create_model("slowfast_tiny"),
                       cameras=[], repair_on_start=False, engine_settings={"backend": "torch-cpu"},
                       detection=detection, detect=detect)
        qtbot.addWidget(w)
        w.resize(800, 500)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()


def painted_people(w: MainWindow, count: int) -> bool:
    """The newest prediction has `count` people and the view has painted them since."""
    p = w.state.prediction
    items = w.video.last_people_items
    return p is not None and p.people is not None and len(p.people) == count and items is not None \
        and sum(isinstance(i, Text) and i.text.startswith("#") for i in items) == count


def captions(items) -> list[str]:
    return [i.text for i in items if isinstance(i, Text)]


def test_detection_toggle_boxes_each_actor_with_steady_ids_and_switches_back(qtbot, make_window):
    w = make_window(detect=False)
    assert not w.detection_action.isChecked()
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    assert w.state.prediction.people is None  # the whole frame: no people, the classifier's top-k
    assert w.state.prediction.topk
    qtbot.waitUntil(lambda: w.video.paints > 0 and w.state.prediction is not None, timeout=WAIT)
    assert w.video.last_people_items is None

    w.detection_action.trigger()  # View -> Detection
    qtbot.waitUntil(lambda: w.detection.active == REQUEST, timeout=WAIT)  # the engine runs the per-person path
    assert w.detection_action.isChecked()
    qtbot.waitUntil(lambda: painted_people(w, 3), timeout=WAIT)
    first = w.state.prediction
    ids = sorted(p.track for p in first.people)
    assert len(set(ids)) == 3
    # one box per actor, left to right, in its track's colour, with its caption above it
    boxes = sorted(first.people, key=lambda p: p.box[0])
    assert all(a.box[2] <= b.box[0] for a, b in zip(boxes, boxes[1:]))
    items = w.video.last_people_items
    lines = [i for i in items if isinstance(i, Line) and i.color != PANEL]  # each edge over a dark one
    assert len(lines) == 4 * 3 and sum(isinstance(i, Line) for i in items) == 2 * 4 * 3
    assert {i.color for i in lines} == {track_rgba(t) for t in ids}
    assert sorted(int(c.split()[0][1:]) for c in captions(items)) == ids
    assert "3 people in view · detector" in w.status_panel.timing.text()
    assert "slowfast_tiny_detection" in w.status_panel.model.text()  # what runs now, not the idle classifier
    assert w.status_panel.model.text().endswith(" · RoI head (torch)")  # nor the classifier's backend
    assert first.detector_ms is not None and first.detector_ms >= 0.0

    # the next windows keep each actor's id
    qtbot.waitUntil(lambda: w.state.prediction.id >= first.id + 2 and painted_people(w, 3), timeout=WAIT)
    later = {round(p.box[0], 3): p.track for p in w.state.prediction.people}
    assert later == {round(p.box[0], 3): p.track for p in first.people}

    # and back to the whole frame
    w.detection_action.trigger()
    assert not w.detection_action.isChecked()
    qtbot.waitUntil(lambda: w.detection.active is None, timeout=WAIT)
    qtbot.waitUntil(lambda: w.state.prediction.people is None and w.state.prediction.topk != (), timeout=WAIT)
    painted = w.video.paints
    qtbot.waitUntil(lambda: w.video.paints > painted, timeout=WAIT)
    assert w.video.last_people_items is None
    assert "in view" not in w.status_panel.timing.text()
    assert "slowfast_tiny_detection" not in w.status_panel.model.text()


class ClosedSceneBoxes(SceneBoxesDetector):
    """The scene's boxes, noting when the engine closes it, as it closes a replaced torchvision detector."""

    closed = False

    def close(self, timeout: float = 5.0) -> None:
        self.closed = True


def test_detection_on_at_start_and_no_person_in_view(qtbot, make_window):
    w = make_window(detect=True)  # slowfast-app --detect --detector scene:3: sent as soon as the engine starts
    assert w.detection_action.isChecked()
    qtbot.waitUntil(lambda: painted_people(w, 3), timeout=WAIT)
    # a detector that finds nobody: the view says so instead of a label, the status bar too
    nobody = PeopleStep(create_detection_model("slowfast_tiny_detection", seed=0),
                        SceneBoxesDetector([], width=1, height=1))
    before = PeopleStep(nobody.model, ClosedSceneBoxes([], width=1, height=1))
    w.engine.set_people(before)
    w.engine.set_people(nobody)
    assert before.detector.closed  # the replaced detector is closed (a torchvision one stops its conversion)
    qtbot.waitUntil(lambda: painted_people(w, 0) and captions(w.video.last_people_items) == [NOBODY], timeout=WAIT)
    assert not any(isinstance(i, Line) for i in w.video.last_people_items)
    assert w.state.prediction.people == ()
    assert "no person in view" in w.status_panel.timing.text()


def test_a_bad_detector_is_one_line_and_the_toggle_goes_back_off(qtbot, make_window):
    w = make_window(detect=False)
    qtbot.waitUntil(lambda: w.engine.running, timeout=WAIT)
    w.detection.use(DetectionRequest(arch="slowfast_tiny_detection", detector="scene:9"))
    w.detection_action.trigger()
    qtbot.waitUntil(lambda: w.messages.model.has("detect"), timeout=WAIT)
    message = next(n.text for n in w.messages.model.notices() if n.key == "detect")
    assert "scene:9" in message and "\n" not in message
    assert not w.detection_action.isChecked() and not w.detection.wanted and w.detection.active is None
    qtbot.waitUntil(lambda: w.state.prediction is not None and w.state.prediction.people is None, timeout=WAIT)


# --- the Model menu's detection model, and the choice remembered ---------------------------------------------------

@pytest.fixture
def detection_checkpoint(tmp_path):
    """What `slowfast train --task detect` writes (save_detection_model): the tiny preset, fixed random weights."""
    return save_detection_model(create_detection_model("slowfast_tiny_detection", seed=1), tmp_path / "detector.pyth")


@pytest.fixture
def classifier_checkpoint(tmp_path):
    return save_model(create_model("slowfast_tiny", seed=2), tmp_path / "classifier.pyth")


def menu_actions(w: MainWindow) -> dict[str, object]:
    """Model menu's actions (and its Person detector submenu's) by text, as the menu shows them when opened."""
    w.model_menu.aboutToShow.emit()
    out = {}
    for a in w.model_menu.actions():
        out[a.text()] = a
        if a.menu() is not None:
            out.update({f"{a.text()} / {b.text()}": b for b in a.menu().actions()})
    return out


def notice(w: MainWindow, key: str) -> str:
    return next(n.text for n in w.messages.model.notices() if n.key == key)


def stored(tmp_path) -> AppSettings:
    return SettingsStore(path=tmp_path / "settings.ini").load()


def test_open_detection_checkpoint_turns_detection_on_and_wrong_kinds_are_one_line(
        qtbot, make_window, tmp_path, monkeypatch, detection_checkpoint, classifier_checkpoint):
    w = make_window(detect=False)
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    assert w.state.prediction.people is None

    import app.window as window_module

    monkeypatch.setattr(window_module.QFileDialog, "getOpenFileName",  # the person picking the file
                        staticmethod(lambda *a: (str(detection_checkpoint), a[-1].split(";;")[0])))
    menu_actions(w)["Open &detection checkpoint…"].trigger()  # Model -> Open detection checkpoint…
    qtbot.waitUntil(lambda: w.detection.active is not None and w.detection.active.weights == str(detection_checkpoint),
                    timeout=WAIT)
    assert w.detection_action.isChecked() and w.detection.active.detector == "scene:3"  # the detector is kept
    qtbot.waitUntil(lambda: painted_people(w, 3), timeout=WAIT)
    assert "detector.pyth" in w.status_panel.model.text()
    actions = menu_actions(w)
    assert actions["detector.pyth  ·  detection checkpoint"].isChecked()
    assert not any(a.isChecked() for t, a in actions.items() if "per person" in t or t.startswith("Untrained detect"))
    assert actions["&Person detector / scene:3  ·  the synthetic scene's own boxes"].isChecked()
    saved = stored(tmp_path)
    assert (saved.detect, saved.detect_weights, saved.detector) == (True, str(detection_checkpoint), "scene:3")

    # a classifier picked as the detection model: one line, the detection model that ran goes on
    running = w.detection.active
    w.use_detection_model(classifier_checkpoint)
    qtbot.waitUntil(lambda: w.messages.model.has("detect"), timeout=WAIT)
    text = notice(w, "detect")
    assert "classifier.pyth" in text and "whole-frame classifier, not a per-person detection" in text
    assert "\n" not in text
    assert w.detection.active == running and w.detection.request == running and w.detection_action.isChecked()
    last = w.state.prediction.id
    qtbot.waitUntil(lambda: w.state.prediction.id > last and painted_people(w, 3), timeout=WAIT)
    assert stored(tmp_path).detect_weights == str(detection_checkpoint)  # the failed pick is not saved

    # a detection checkpoint picked as the classifier: one line, the classifier stays
    model_before = w.models.model
    w.models.open_checkpoint(detection_checkpoint)
    qtbot.waitUntil(lambda: w.messages.model.has("model"), timeout=WAIT)
    assert "is a per-person detection model" in notice(w, "model") and "\n" not in notice(w, "model")
    assert w.models.model is model_before and w.detection.active == running


def test_the_registry_detection_model_downloads_through_the_model_menu(
        qtbot, make_window, tmp_path, monkeypatch, local_server: LocalServer, detection_checkpoint):
    name = "SLOWFAST_8x8_R50_DETECTION"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / f"{name}.pyth"
    urls = {name: closed_port_url(f"/ava/{name}.pyth")}  # first as on a machine without network
    local_downloads(monkeypatch, urls)
    w = make_window(detect=False)
    qtbot.waitUntil(lambda: w.engine.running, timeout=WAIT)
    title = next(t for t in menu_actions(w) if t.startswith(name))
    assert title.endswith("(download)") and "per person" in title
    menu_actions(w)[title].trigger()
    dialog = w.download_dialog
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    assert dialog.result() == dialog.DialogCode.Rejected
    assert "no network" in notice(w, "download") and f"{name}.pyth" in notice(w, "download")
    failed = next(n for n in w.messages.model.notices() if n.key == "download")
    assert [label for label, _do in failed.actions] == ["Open detection checkpoint…"]  # not a classifier's
    assert not w.detection.wanted and w.detection.active is None and not cached.exists()

    urls[name] = local_server.serve(f"/ava/{name}.pyth", detection_checkpoint.read_bytes())
    menu_actions(w)[title].trigger()
    qtbot.waitUntil(lambda: w.detection.active is not None and w.detection.active.weights == name, timeout=WAIT)
    assert w.download_dialog.result() == w.download_dialog.DialogCode.Accepted
    assert cached.read_bytes() == detection_checkpoint.read_bytes()
    assert local_server.requests == [f"/ava/{name}.pyth"]
    qtbot.waitUntil(lambda: painted_people(w, 3), timeout=WAIT)
    assert w.detection_action.isChecked()
    actions = menu_actions(w)
    assert actions[f"{name}  ·  per person, 80 AVA actions"].isChecked()  # cached now: no "(download)"
    assert stored(tmp_path).detect_weights == name


def test_the_detection_choice_is_restored_and_flags_override_it_for_one_run(
        qtbot, make_window, tmp_path, detection_checkpoint):
    SettingsStore(path=tmp_path / "settings.ini").save(
        base_settings(detect=True, detect_weights=str(detection_checkpoint), detector="scene:3"))
    w = make_window(detect=None, detection=None, settings=stored(tmp_path))  # as slowfast-app with no flags
    assert w.detection_action.isChecked()
    qtbot.waitUntil(lambda: w.detection.active is not None and painted_people(w, 3), timeout=WAIT)
    assert w.detection.active.weights == str(detection_checkpoint) and w.detection.active.detector == "scene:3"
    w.shutdown()

    # slowfast-app --detect-arch slowfast_tiny_detection --detector scene:2: this run only
    request, on = startup_choice(stored(tmp_path), arch="slowfast_tiny_detection", detector="scene:2")
    assert on and request.weights is None and request.detector == "scene:2"
    w = make_window(detect=on, detection=request, settings=stored(tmp_path))
    qtbot.waitUntil(lambda: w.detection.active == request and painted_people(w, 2), timeout=WAIT)
    w.prefs.save()  # any save of the settings (a label, the source) keeps the remembered detection choice
    saved = stored(tmp_path)
    assert (saved.detect, saved.detect_weights, saved.detector) == (True, str(detection_checkpoint), "scene:3")
    w.detection_action.trigger()  # the person turns it off: that is remembered, the model stays remembered
    qtbot.waitUntil(lambda: w.detection.active is None, timeout=WAIT)
    saved = stored(tmp_path)
    assert (saved.detect, saved.detect_weights, saved.detector) == (False, str(detection_checkpoint), "scene:3")
    w.shutdown()
    w = make_window(detect=None, detection=None, settings=stored(tmp_path))
    assert not w.detection_action.isChecked()
    qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
    assert w.state.prediction.people is None and w.detection.request.weights == str(detection_checkpoint)


def test_detection_settings_round_trip_and_bad_values_fall_back(tmp_path):
    store = SettingsStore(path=tmp_path / "settings.ini")
    assert AppSettings().detect is False and store.load().detect_arch == DEFAULT_DETECT_ARCH
    store.save(AppSettings(detect=True, detect_weights=" SLOWFAST_8x8_R50_DETECTION ", detector="scene:2",
                           detect_arch="slowfast_8x8_r50"))  # a classifier preset, hand-edited in
    back = store.load()
    assert back.detect is True and back.detect_weights == "SLOWFAST_8x8_R50_DETECTION"
    assert back.detector == "scene:2" and back.detect_arch == DEFAULT_DETECT_ARCH
    request, on = startup_choice(back)
    assert on and request == DetectionRequest(weights="SLOWFAST_8x8_R50_DETECTION", arch=None, detector="scene:2",
                                              threshold=back.threshold)
    request, on = startup_choice(back, detect=False, weights="/x/det.pyth", detector="")
    assert not on and request.weights == "/x/det.pyth" and request.arch is None and request.detector is None


# --- the Settings dialog's Detection entry, and the default person detector's download ----------------------------

def people_in(w: MainWindow) -> int | None:
    """How many people the newest prediction has (None: no prediction, or a whole-frame one)."""
    p = w.state.prediction
    return None if p is None or p.people is None else len(p.people)


def through_settings(w: MainWindow, edit, *, accept: bool = True) -> list[tuple[bool, str | None, list]]:
    """Open View -> Settings… (the real modal dialog), see what it shows, `edit(dialog)`, then OK (or Cancel).
    Returns what it showed: [(Detection checked, the person detector's current name, the combo's items)]."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    seen = []

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        try:
            items = [(dialog.detector.itemData(i), dialog.detector.itemText(i)) for i in range(dialog.detector.count())]
            seen.append((dialog.detect.isChecked(), dialog.detector.currentData(), items))
            edit(dialog)
        finally:  # an assertion failing in here must not leave the modal dialog open
            dialog.accept() if accept and len(seen) == 1 else dialog.reject()

    QTimer.singleShot(0, act)
    w.settings_action.trigger()
    return seen


def test_the_settings_dialog_turns_detection_on_and_off_as_the_view_menu_does(qtbot, make_window, tmp_path):
    w = make_window(detect=False)
    qtbot.waitUntil(lambda: w.state.prediction is not None and w.engine.running, timeout=WAIT)
    assert w.state.prediction.people is None

    def check(dialog) -> None:
        assert not dialog.detector.isEnabled()  # the detector is picked with Detection on
        dialog.detect.setChecked(True)
        assert dialog.detector.isEnabled()

    [(on, detector, items)] = through_settings(w, check, accept=False)  # Cancel: nothing changes
    assert (on, detector) == (False, "scene:3")  # what the window has now
    submenu = [t.split(" / ", 1)[1] for t in menu_actions(w) if t.startswith("&Person detector / ")]
    assert [text for _name, text in items] == submenu  # the Model menu's Person detector list, the same
    assert [name for name, _text in items][:3] == [None, "FASTERRCNN_MOBILENET_V3_LARGE_320_FPN",
                                                  "FASTERRCNN_RESNET50_FPN"]
    assert not w.detection.wanted and not w.detection_action.isChecked()

    [(on, _d, _i)] = through_settings(w, lambda dialog: dialog.detect.setChecked(True))
    assert not on
    qtbot.waitUntil(lambda: w.detection.active == REQUEST, timeout=WAIT)  # the engine runs the per-person path
    qtbot.waitUntil(lambda: people_in(w) == 3, timeout=WAIT)
    assert w.detection_action.isChecked()  # the View menu agrees
    saved = stored(tmp_path)
    assert (saved.detect, saved.detector) == (True, "scene:3")

    [(on, detector, _i)] = through_settings(w, lambda dialog: dialog.detect.setChecked(False))
    assert (on, detector) == (True, "scene:3")
    assert not w.detection_action.isChecked()
    qtbot.waitUntil(lambda: w.detection.active is None, timeout=WAIT)
    qtbot.waitUntil(lambda: people_in(w) is None and w.state.prediction is not None, timeout=WAIT)  # whole frame
    assert stored(tmp_path).detect is False


def test_the_default_person_detector_is_downloaded_in_the_dialog_then_runs(
        qtbot, make_window, tmp_path, monkeypatch, local_server: LocalServer):
    """Person detector -> Default for this device, not cached: the window's download dialog and child fetch it
    from a local server (a real torchvision Faster R-CNN state dict, random weights: COCO's cannot be
    downloaded here), then the engine detects with it. A 404 first: one notice, and what ran goes on."""
    import io

    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    from slowfast_core.detect.torchvision_detector import CPU_DETECTOR
    from slowfast_core.weights.detection_registry import cached_detection_path, get_detection_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    entry = get_detection_weights(CPU_DETECTOR)  # the default on a CPU (device "cpu" below)
    cached = cached_detection_path(entry)
    served = f"/models/{entry.file_name}"
    local_downloads(monkeypatch, {entry.name: local_server.url(served)})  # nothing there yet: 404
    w = make_window(detect=True, settings=base_settings(device="cpu"))
    qtbot.waitUntil(lambda: w.detection.active == REQUEST and people_in(w) == 3, timeout=WAIT)
    statuses: list[str] = []
    w.bridge.statusChanged.connect(lambda status: statuses.append(status.message))

    def pick_default(dialog) -> None:  # through the Settings dialog: the Model menu's path
        assert dialog.detector.itemText(0) == "Default for this device"
        dialog.detector.setCurrentIndex(0)

    through_settings(w, pick_default)
    dialog = w.download_dialog
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    assert dialog.result() == dialog.DialogCode.Rejected and local_server.requests == [served]
    [failed] = [n for n in w.messages.model.notices() if n.key in ("download", "detect")]
    assert failed.key == "download" and "404" in failed.text and "\n" not in failed.text
    assert not cached.exists()
    assert w.detection.active == REQUEST and w.detection.request == REQUEST and w.detection_action.isChecked()
    last = w.state.prediction.id
    qtbot.waitUntil(lambda: w.state.prediction.id > last and people_in(w) == 3, timeout=WAIT)  # the scene's boxes

    torch.manual_seed(0)
    body = io.BytesIO()
    torch.save(fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None).state_dict(), body)
    local_server.serve(served, body.getvalue())
    menu_actions(w)["&Person detector / Default for this device"].trigger()  # Model -> Person detector
    qtbot.waitUntil(lambda: w.detection.active is not None and w.detection.active.detector is None, timeout=WAIT)
    assert w.download_dialog.result() == w.download_dialog.DialogCode.Accepted
    assert cached.read_bytes() == body.getvalue() and local_server.requests == [served, served]
    # the engine detects with it: it says which detector runs, and each window goes the per-person way
    assert f"who is doing what: {entry.arch}" in statuses
    last = w.state.prediction.id
    qtbot.waitUntil(lambda: w.state.prediction.id > last and people_in(w) is not None, timeout=WAIT)
    assert w.state.prediction.detector_ms is not None
    saved = stored(tmp_path)
    assert (saved.detect, saved.detector) == (True, "")  # the default, remembered
    actions = menu_actions(w)
    assert actions["&Person detector / Default for this device"].isChecked()
    assert f"&Person detector / {entry.name}" in actions  # cached now: no "(download)"
    w.detection_action.trigger()  # off: the engine closes the detector (its OpenVINO conversion stops)
    qtbot.waitUntil(lambda: w.detection.active is None, timeout=WAIT)
