"""Agreement of predictions with marked labels over time (sessions/agreement.py), on hand-made timelines whose
answers are worked out here in seconds."""

from __future__ import annotations

import pytest

from slowfast_core.records import PredictionRecord
from slowfast_core.sessions.agreement import (
    Agreement,
    LabelAgreement,
    agreement,
    normalize_label,
    predicted_segments,
)
from slowfast_core.sessions.layout import LabeledSegment as Seg


def pred(mid: float, label: str | None, half: float = 0.5) -> PredictionRecord:
    """A live prediction whose window is centred on `mid`."""
    return PredictionRecord(window=int(mid * 10), start=mid - half, end=mid + half, topk=(),
                            label=label, confidence=0.9 if label else 0.1)


def test_normalize_label() -> None:
    assert normalize_label("Waving_hand") == "waving hand"
    assert normalize_label("  Waving  \t_ hand ") == "waving hand"
    assert normalize_label("CLAP") == "clap"


def test_each_prediction_holds_halfway_to_its_neighbours() -> None:
    segs = predicted_segments([pred(2.0, "b"), pred(1.0, "a"), pred(4.0, "c")])  # any order in
    # the first and last hold as far out as in: halfway to their one neighbour
    assert segs == [Seg("a", 0.5, 1.5), Seg("b", 1.5, 3.0), Seg("c", 3.0, 5.0)]


def test_a_gap_is_bounded_by_max_gap() -> None:
    segs = predicted_segments([pred(1.0, "a"), pred(11.0, "b")], max_gap=2.0)
    assert segs == [Seg("a", 0.0, 2.0), Seg("b", 10.0, 12.0)]  # a stall does not stretch either answer
    assert predicted_segments([pred(1.0, "a"), pred(11.0, "b")]) == segs  # 2 s is the default
    assert predicted_segments([pred(1.0, "a"), pred(11.0, "b")], max_gap=4.0) == [Seg("a", -1.0, 3.0),
                                                                                  Seg("b", 9.0, 13.0)]


def test_a_lone_prediction_has_no_neighbour_to_share_time_with() -> None:
    assert predicted_segments([pred(5.0, "a")], max_gap=3.0) == []  # (as the code stands: it covers nothing)
    assert predicted_segments([]) == []


def test_same_labels_merge_and_no_action_leaves_a_hole() -> None:
    segs = predicted_segments([pred(1.0, "a"), pred(2.0, "a"), pred(3.0, None), pred(4.0, "a"), pred(5.0, "b")])
    assert segs == [Seg("a", 0.5, 2.5), Seg("a", 3.5, 4.5), Seg("b", 4.5, 5.5)]


def test_two_predictions_at_one_instant_take_no_time() -> None:
    segs = predicted_segments([pred(1.0, "a"), pred(2.0, "x"), pred(2.0, "b"), pred(3.0, "c")])
    assert Seg("a", 0.5, 1.5) in segs and Seg("c", 2.5, 3.5) in segs
    assert sum(s.end - s.start for s in segs) == pytest.approx(3.0)


def test_agreement_in_seconds_overall_and_per_label() -> None:
    labels = [Seg("Wave", 0.0, 2.0), Seg("clap", 2.0, 4.0), Seg("wave", 5.0, 6.0)]
    preds = [pred(0.5, "wave"), pred(1.5, "clap"), pred(2.5, "clap"), pred(3.5, None), pred(5.5, "WAVE")]
    result = agreement(labels, preds)
    # predicted: wave [0, 1), clap [1, 3), (hole [3, 4.5)), WAVE [4.5, 6.5]: halfway back to 3.5, capped at 1 s
    assert result.per_label == {
        "Wave": LabelAgreement("Wave", 2.0, 1.0),
        "clap": LabelAgreement("clap", 2.0, 1.0),
        "wave": LabelAgreement("wave", 1.0, 1.0),
    }
    assert (result.labeled_seconds, result.matched_seconds) == (5.0, 3.0) and result.fraction == 0.6
    assert result.per_label["clap"].fraction == 0.5 and result.per_label["wave"].fraction == 1.0


def test_repeated_labels_add_up() -> None:
    result = agreement([Seg("a", 0.0, 1.0), Seg("a", 2.0, 4.0)], [pred(0.5, "a"), pred(1.5, "b"), pred(2.5, "a"),
                                                                  pred(3.5, "a")])
    assert result.per_label == {"a": LabelAgreement("a", 3.0, 3.0)} and result.fraction == 1.0


def test_nothing_labeled_has_no_fraction() -> None:
    empty = agreement([], [pred(1.0, "a")])
    assert empty == Agreement(0.0, 0.0, {}) and empty.fraction is None
    assert LabelAgreement("a", 0.0, 0.0).fraction is None
    assert agreement([Seg("a", 0.0, 1.0)], []).fraction == 0.0


def test_max_gap_reaches_agreement() -> None:
    labels = [Seg("a", 0.0, 20.0)]
    two = [pred(5.0, "a"), pred(15.0, "a")]  # 10 s apart: each would hold 5 s each way
    assert agreement(labels, two, max_gap=2.0).matched_seconds == pytest.approx(4.0)
    assert agreement(labels, two).matched_seconds == pytest.approx(4.0)  # the default max_gap: 2 s
    assert agreement(labels, two, max_gap=6.0).matched_seconds == pytest.approx(12.0)
