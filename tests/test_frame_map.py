"""AVA frame-mAP@0.5 on cases checked by hand, and the AVA CSV reader's one-line errors (file:line)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slowfast_core.train.ava import AvaError, read_ava_csv
from slowfast_core.train.frame_map import FrameDetections, frame_map


def test_frame_map_by_hand() -> None:
    a, b = (0.0, 0.0, 0.4, 1.0), (0.5, 0.0, 0.9, 1.0)
    frames = [
        # frame 1: person a does class 0; detected exactly, score 0.9
        FrameDetections([a], [{0}], [a], np.array([[0.9, 0.2, 0.5]])),
        # frame 2: person b does classes 0 and 1; a false box (no overlap) scores 0.8, the true box 0.7 / 0.6
        FrameDetections([b], [{0, 1}], [a, b], np.array([[0.8, 0.1, 0.5], [0.7, 0.6, 0.5]])),
    ]
    mean, per_class = frame_map(frames, 3)
    # class 0 ranked: TP(0.9) FP(0.8) TP(0.7): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = .5*1 + .5*2/3
    assert per_class[0] == pytest.approx(0.5 + 0.5 * 2 / 3)
    # class 1 ranked: TP(0.6) FP(0.2, frame 1 has no class-1 person) FP(0.1): AP = 1 (recall 1 at precision 1)
    assert per_class[1] == pytest.approx(1.0)
    assert math.isnan(per_class[2])  # no ground truth: left out of the mean
    assert mean == pytest.approx((0.5 + 0.5 * 2 / 3 + 1.0) / 2)


def test_a_duplicate_detection_is_a_false_positive_and_iou_below_half_misses() -> None:
    g = (0.0, 0.0, 0.4, 1.0)
    half = (0.2, 0.0, 0.6, 1.0)  # IoU with g = 0.2/0.6 = 1/3 < 0.5
    frames = [FrameDetections([g], [{0}], [g, g, half], np.array([[0.9], [0.8], [0.95]]))]
    _, per_class = frame_map(frames, 1)
    # ranked: FP(0.95, IoU 1/3) TP(0.9) FP(0.8 duplicate): precision 0, 1/2, 1/3; recall reaches 1 at 1/2
    assert per_class[0] == pytest.approx(0.5)


def test_ava_csv_rows_merge_per_person_and_errors_name_file_and_line(tmp_path) -> None:
    good = tmp_path / "train.csv"
    good.write_text("v1,1,0.1,0.1,0.4,0.9,2,0\nv1,1,0.1,0.1,0.4,0.9,3,0\nv1,1,0.5,0.1,0.9,0.9,1,1\nv1,2,0.1,0.1,0.4,0.9,2,0\n")
    frames = read_ava_csv(good, num_classes=3)
    assert [(f.video, f.timestamp, len(f.boxes)) for f in frames] == [("v1", 1.0, 2), ("v1", 2.0, 1)]
    assert frames[0].targets(3).tolist() == [[0, 1, 1], [1, 0, 0]]
    cases = {
        "v1,1,0.1,0.1,0.4,0.9,2\nv1,x,0.1,0.1,0.4,0.9,2,0\n": r"bad.csv:2: timestamp 'x' is not a number",
        "v1,1,0.1,0.1,0.4\n": r"bad.csv:1: 5 columns, expected 8",
        "v1,1,0.1,0.1,1.4,0.9,2,0\n": r"bad.csv:1: box .* is outside the frame",
        "\nv1,1,0.5,0.1,0.4,0.9,2,0\n": r"bad.csv:2: box .* is empty",
        "v1,1,0.1,0.1,0.4,0.9,9,0\n": r"bad.csv:1: action_id 9 is not one of 1..3",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(AvaError, match=message):
            read_ava_csv(bad, num_classes=3)


def test_precision_is_made_monotone_before_the_area() -> None:
    g1, g2, far = (0.0, 0.0, 0.3, 1.0), (0.6, 0.0, 0.9, 1.0), (0.3, 0.0, 0.6, 0.2)
    frames = [FrameDetections([g1, g2], [{0}, {0}], [far, g1, g2], np.array([[0.9], [0.8], [0.7]]))]
    # ranked FP TP TP: precision 0, 1/2, 2/3 at recall 0, 1/2, 1; monotone: 2/3 at both steps -> AP 2/3
    assert frame_map(frames, 1)[0] == pytest.approx(2 / 3)
