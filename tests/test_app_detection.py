"""The window's Detection (who is doing what, issue 23): the real window (offscreen), the real engine, a tiny
SlowFast and the tiny detection preset on the multi-actor scripted scene, the scene's own boxes standing in for
a person detector (`--detector scene:3`; nothing can be downloaded here).

View -> Detection switches the running engine to the per-person path and back (through the engine controller's
wish, `requestPeople`); the view paints the people's display list (`overlay/people.py`, the one `predict
--annotate` draws): one box per actor, in its track colour, with ids that stay put; "no person in view" when
the detector finds nobody; the status bar counts the people and shows the detector's cost.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from app.engine_control import DetectionRequest  # noqa: E402
from app.settings import AppSettings, SettingsStore  # noqa: E402
from app.window import MainWindow  # noqa: E402
from slowfast_core import create_model  # noqa: E402
from slowfast_core.detect.people import PeopleStep  # noqa: E402
from slowfast_core.detect.scene_boxes import SceneBoxesDetector  # noqa: E402
from slowfast_core.overlay.colors import PANEL, track_rgba  # noqa: E402
from slowfast_core.overlay.layout import Line, Text  # noqa: E402
from slowfast_core.overlay.people import NOBODY  # noqa: E402
from slowfast_core.weights.detection import create_detection_model  # noqa: E402

ACTORS = "synthetic:actions:0-3,actors=3"
REQUEST = DetectionRequest(arch="slowfast_tiny_detection", detector="scene:3")
WAIT = 120_000  # ms: generous, the machine is small and shared


@pytest.fixture
def make_window(qtbot, tmp_path):
    windows: list[MainWindow] = []

    def make(*, detect: bool) -> MainWindow:
        settings = AppSettings(weights="", input_size=64, stride_s=0.5, backend="torch-cpu")
        w = MainWindow(store=SettingsStore(path=tmp_path / "settings.ini"), settings=settings,
                       sessions_root=tmp_path / "sessions", start_source=ACTORS, model=create_model("slowfast_tiny"),
                       cameras=[], repair_on_start=False, engine_settings={"backend": "torch-cpu"},
                       detection=REQUEST, detect=detect)
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


def test_detection_on_at_start_and_no_person_in_view(qtbot, make_window):
    w = make_window(detect=True)  # slowfast-app --detect --detector scene:3: sent as soon as the engine starts
    assert w.detection_action.isChecked()
    qtbot.waitUntil(lambda: painted_people(w, 3), timeout=WAIT)
    # a detector that finds nobody: the view says so instead of a label, the status bar too
    nobody = PeopleStep(create_detection_model("slowfast_tiny_detection", seed=0),
                        SceneBoxesDetector([], width=1, height=1))
    w.engine.set_people(nobody)
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
