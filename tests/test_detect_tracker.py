"""Person boxes, the scene's own detector, and the IoU tracker with a smoother per track."""

from __future__ import annotations

import numpy as np
import pytest

from slowfast_core.detect.base import PersonBox, check_boxes
from slowfast_core.detect.scene_boxes import SceneBoxesDetector
from slowfast_core.detect.tracker import Tracker, iou
from slowfast_core.errors import ConfigError
from slowfast_core.video.multi_actor import MultiActorScene


def test_iou_by_hand() -> None:
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0


def test_boxes_outside_the_frame_are_clipped_or_dropped_and_bad_boxes_are_one_line() -> None:
    boxes = [PersonBox(-20, 10, 30, 50), PersonBox(200, 10, 260, 40), PersonBox(90, 60, 150, 90)]
    out = check_boxes(boxes, 100, 80)
    assert [b.xyxy for b in out] == [(0, 10, 30, 50), (90, 60, 100, 80)]  # the second was wholly outside
    with pytest.raises(ConfigError, match=r"\(30, 10, 20, 50\) is not a box"):
        check_boxes([PersonBox(30, 10, 20, 50)], 100, 80)
    with pytest.raises(ConfigError, match="is not a box"):
        check_boxes([PersonBox(float("nan"), 10, 20, 50)], 100, 80)


def test_tracker_keeps_identity_while_people_move_and_numbers_newcomers() -> None:
    tracker = Tracker(["a", "b"], iou_threshold=0.3, max_missed=1)
    left, right = PersonBox(0, 0, 40, 80), PersonBox(100, 0, 140, 80)
    first = tracker.update([left, right])
    assert [p.track_id for p in first] == [1, 2]
    moved = tracker.update([PersonBox(108, 0, 148, 80), PersonBox(6, 0, 46, 80)])  # order swapped, both moved
    assert [p.track_id for p in moved] == [2, 1]
    newcomer = tracker.update([PersonBox(10, 0, 50, 80), PersonBox(200, 0, 240, 80)])  # 2 left, 3 arrived
    assert [p.track_id for p in newcomer] == [1, 3] and set(tracker.tracks) == {1, 2, 3}
    tracker.update([PersonBox(10, 0, 50, 80)])
    assert set(tracker.tracks) == {1, 3}  # track 2 missed two windows (> max_missed): ended
    back = tracker.update([PersonBox(10, 0, 50, 80), PersonBox(108, 0, 148, 80)])
    assert [p.track_id for p in back] == [1, 4]  # a person returning after the track ended gets a new id
    assert tracker.update([]) == [] and tracker.tracks[1].missed == 1


def test_each_track_is_smoothed_on_its_own() -> None:
    tracker = Tracker(["sit", "wave"], window=3, threshold=0.5, hysteresis=0.1)
    a, b = tracker.update([PersonBox(0, 0, 40, 80), PersonBox(100, 0, 140, 80)])
    assert tracker.smooth(a.track_id, np.array([0.9, 0.1])).label == "sit"
    assert tracker.smooth(b.track_id, np.array([0.1, 0.9])).label == "wave"
    tracker.update([PersonBox(0, 0, 40, 80), PersonBox(100, 0, 140, 80)])
    # one noisy window for person a does not flip its label, and b's history does not leak into a's
    assert tracker.smooth(a.track_id, np.array([0.3, 0.7])).label == "sit"
    assert tracker.smooth(b.track_id, np.array([0.1, 0.9])).label == "wave"


def test_scene_detector_reports_each_actors_column_at_any_frame_size() -> None:
    scene = MultiActorScene([[(0, 1.0)], [(5, 1.0)]], width=160, height=80)
    det = SceneBoxesDetector.of_scene(scene)
    full = det.detect(scene.frame(0))
    assert len(full) == 2 and full[0].x2 <= 80 <= full[1].x1
    half = det.detect(np.zeros((40, 80, 3), np.uint8))
    assert half[1].xyxy == pytest.approx(tuple(v / 2 for v in full[1].xyxy))
    assert [t.class_index for t in scene.truth(10)] == [0, 5]
    frame = scene.frame(3)
    assert frame.shape == (80, 160, 3) and not np.array_equal(frame[:, :80], frame[:, 80:])


def test_prediction_record_with_people_round_trips_and_older_records_still_read() -> None:
    import json

    from slowfast_core.records import PersonRecord, PredictionRecord

    person = PersonRecord(track=2, box=(0.1, 0.2, 0.4, 0.9), score=0.93, actions=(("sit", 0.8), ("talk", 0.6)),
                          label="sit", confidence=0.75)
    record = PredictionRecord(window=4, start=1.0, end=2.0, topk=(), people=(person,))
    back = PredictionRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back.people == (person,)
    empty = PredictionRecord.from_dict({**record.to_dict(), "people": []})
    assert empty.people == ()  # nobody in view: an empty list, not a missing field
    old = PredictionRecord.from_dict({"window": 1, "start": 0.0, "end": 1.0, "topk": [{"label": "a", "prob": 0.5}]})
    assert old.people is None and "people" not in old.to_dict()
    with pytest.raises(ValueError, match="not x1, y1, x2, y2"):
        PredictionRecord.from_dict({**record.to_dict(), "people": [{**person.to_dict(), "box": [0.5, 0, 0.1, 1]}]})


def test_session_predictions_record_people_and_the_reader_reads_old_and_new(tmp_path) -> None:
    from slowfast_core.records import PersonRecord
    from slowfast_core.sessions.prediction_log import PredictionLog
    from slowfast_core.sessions.tables import read_predictions_checked
    from slowfast_core.stream.types import Prediction, Timings

    timings = Timings(waited_ms=1.0, prepared_ms=1.0, inferred_ms=1.0, end_to_end_ms=3.0)
    people = (PersonRecord(track=1, box=(0.0, 0.0, 0.5, 1.0), score=1.0, actions=(("wave", 0.9),), label="wave",
                           confidence=0.8),)
    log = PredictionLog(tmp_path)
    log.append(Prediction(id=0, start_time=10.0, end_time=11.0, first_index=0, last_index=31, topk=(("a", 0.6),),
                          probs=np.array([0.6, 0.4], np.float32), label="a", confidence=0.6, timings=timings), 10.0)
    log.append(Prediction(id=1, start_time=10.5, end_time=11.5, first_index=16, last_index=47, topk=(),
                          probs=np.zeros(0, np.float32), label="wave", confidence=0.8, timings=timings,
                          people=people), 10.0)
    log.append(Prediction(id=2, start_time=11.0, end_time=12.0, first_index=32, last_index=63, topk=(),
                          probs=np.zeros(0, np.float32), label=None, confidence=0.0, timings=timings, people=()), 10.0)
    log.close()
    records, problems = read_predictions_checked(tmp_path)
    assert problems == []
    assert [r.people for r in records] == [None, people, ()]  # whole-frame, one person, nobody in view
