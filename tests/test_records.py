"""The one top-k and the one prediction record (slowfast_core/records.py): ties, names, rounding, what is left
out, what reads back, and what is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from slowfast_core.records import PredictionRecord, top_k
from slowfast_core.spec import REFERENCE_FPS


def test_top_k_ties_keep_class_order() -> None:
    probs = np.array([0.1, 0.3, 0.3, 0.05, 0.3, 0.1], np.float32)
    assert [name for name, _ in top_k(probs, list("abcdef"), 4)] == ["b", "c", "e", "a"]
    # longer than numpy's small-array insertion sort, where its default (unstable) sort reorders ties
    levels = [2, 1, 1, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 1, 2, 2, 1, 1, 1, 2]
    names = [f"n{i}" for i in range(len(levels))]
    assert [name for name, _ in top_k(np.array(levels, np.float32), names, 7)] == \
        ["n0", "n9", "n11", "n14", "n15", "n19", "n1"]


def test_top_k_values_names_and_bounds() -> None:
    probs = np.array([[0.2], [0.5], [0.3]])  # any shape: read as (C,)
    assert top_k(probs, ["a", "b", "c"], 2) == (("b", 0.5), ("c", pytest.approx(0.3)))
    assert all(type(n) is str and type(p) is float for n, p in top_k(probs, ["a", "b", "c"], 3))
    assert len(top_k(probs, ["a", "b", "c"], 0)) == 1  # at least one
    assert len(top_k(probs, ["a", "b", "c"], 9)) == 3  # at most the classes there are
    assert top_k(probs, ["a"], 3) == (("class 1", 0.5), ("class 2", pytest.approx(0.3)), ("a", pytest.approx(0.2)))


def live() -> PredictionRecord:
    return PredictionRecord(window=3, start=1.23456789, end=2.5, topk=(("wave", 0.7000004), ("clap", 0.2)),
                            first_frame=10, last_frame=40, label=None, confidence=0.61234567,
                            timings={"waited": 1.23456, "inferred": 20.0}, backend="torch-cpu")


def test_times_and_instants() -> None:
    record = PredictionRecord(window=0, start=1.0, end=2.0, topk=())
    assert record.mid == 1.5
    assert record.last_instant == pytest.approx(2.0 - 1 / REFERENCE_FPS)
    assert (record.first_frame, record.last_frame, record.padded, record.label, record.confidence,
            record.timings, record.backend) == (-1, -1, None, None, None, None, None)


def test_to_dict_rounds_and_keeps_live_fields() -> None:
    out = live().to_dict()
    assert list(out) == ["window", "start", "end", "first_frame", "last_frame", "topk", "label", "confidence",
                         "timings", "backend"]
    assert out["start"] == 1.234568 and out["end"] == 2.5 and out["window"] == 3
    assert (out["first_frame"], out["last_frame"]) == (10, 40)
    assert out["topk"] == [{"label": "wave", "prob": 0.7}, {"label": "clap", "prob": 0.2}]
    assert out["label"] is None and out["confidence"] == 0.612346  # live: a null label is still written
    assert out["timings"] == {"waited": 1.235, "inferred": 20.0} and out["backend"] == "torch-cpu"
    json.dumps(out, allow_nan=False)


def test_to_dict_leaves_out_what_does_not_apply() -> None:
    offline = PredictionRecord(window=np.int64(2), start=np.float32(0.5), end=1.5, topk=(("a", 1.0),),
                               padded=np.bool_(True))
    out = offline.to_dict()
    assert out == {"window": 2, "start": 0.5, "end": 1.5, "first_frame": -1, "last_frame": -1, "padded": True,
                   "topk": [{"label": "a", "prob": 1.0}]}
    assert type(out["window"]) is int and type(out["padded"]) is bool and type(out["start"]) is float
    assert "padded" in PredictionRecord(0, 0.0, 1.0, (), padded=False).to_dict()


def test_a_live_label_and_every_rounding() -> None:
    record = PredictionRecord(window=1, start=0.1234564, end=2.1234566, topk=(("a", 0.1234567),), label="wave",
                              confidence=0.9999996, timings={"end_to_end": 12.34567})
    out = record.to_dict()
    assert (out["start"], out["end"], out["topk"][0]["prob"]) == (0.123456, 2.123457, 0.123457)
    assert out["label"] == "wave" and out["confidence"] == 1.0 and out["timings"] == {"end_to_end": 12.346}


def test_a_record_reads_back_what_it_wrote() -> None:
    out = live().to_dict()
    back = PredictionRecord.from_dict(json.loads(json.dumps(out)))
    assert back.to_dict() == out
    assert back.topk == (("wave", 0.7), ("clap", 0.2)) and back.timings == {"waited": 1.235, "inferred": 20.0}
    offline = PredictionRecord(window=1, start=0.0, end=1.0, topk=(("a", 0.5),), padded=False)
    again = PredictionRecord.from_dict(offline.to_dict())
    assert again == offline and again.padded is False and again.confidence is None and again.backend is None


def test_the_old_session_layout_reads() -> None:
    old = {"id": 7, "start": 1, "end": 2, "first_index": 3, "last_index": 9, "topk": [["wave", 0.5]],
           "label": "wave", "confidence": 0.5, "padded": 1}
    record = PredictionRecord.from_dict(old)
    assert (record.window, record.first_frame, record.last_frame) == (7, 3, 9)
    assert record.topk == (("wave", 0.5),) and record.label == "wave" and record.padded is True
    assert isinstance(record.start, float)
    bare = PredictionRecord.from_dict({"window": 0, "start": 0, "end": 0})
    assert bare.topk == () and (bare.first_frame, bare.last_frame) == (-1, -1)


@pytest.mark.parametrize("change,error,says", [
    ({"start": math.nan}, ValueError, "nan is not finite"), ({"end": math.inf}, ValueError, "inf is not finite"),
    ({"start": True}, ValueError, "a boolean is not a number"),
    ({"start": 3.0}, ValueError, r"the window ends before it starts \(3.00-2.00 s\)"),
    ({"confidence": -math.inf}, ValueError, "-inf is not finite"),
    ({"confidence": False}, ValueError, "a boolean is not a number"),
    ({"topk": [{"label": "a", "prob": math.nan}]}, ValueError, "not finite"),
    ({"topk": [["a", True]]}, ValueError, "a boolean"),
    ({"topk": [{"prob": 0.5}]}, KeyError, "label"), ({"topk": [["a", 0.5, 1]]}, ValueError, "unpack"),
    ({"timings": {"waited": math.nan}}, ValueError, "not finite"),
    ({"timings": [1.0]}, TypeError, "^timings is not an object$"),
    ({"label": 5}, TypeError, "^label is not text$"), ({"start": "soon"}, ValueError, "soon"),
    ({"window": None}, TypeError, "None"),
])
def test_a_bad_record_is_refused(change: dict, error: type[Exception], says: str) -> None:
    good = {"window": 1, "start": 1.0, "end": 2.0, "topk": [{"label": "a", "prob": 0.5}], "label": "a",
            "confidence": 0.5, "timings": {"waited": 1.0}}
    PredictionRecord.from_dict(good)
    with pytest.raises(error, match=says):
        PredictionRecord.from_dict({**good, **change})


@pytest.mark.parametrize("missing", ["start", "end"])
def test_a_record_without_its_span_is_refused(missing: str) -> None:
    obj = {"window": 1, "start": 1.0, "end": 2.0}
    del obj[missing]
    with pytest.raises(KeyError):
        PredictionRecord.from_dict(obj)
    with pytest.raises(KeyError):
        PredictionRecord.from_dict({"start": 1.0, "end": 2.0})  # neither window nor id
