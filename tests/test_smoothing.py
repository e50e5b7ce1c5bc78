"""Smoothing: mean of the last N, threshold -> no confident action, hysteresis against flicker."""

from __future__ import annotations

import numpy as np
import pytest

from slowfast_core.errors import ConfigError
from slowfast_core.records import top_k
from slowfast_core.stream.smoothing import Smoother

LABELS = ("a", "b", "c")


def p(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def test_mean_of_last_n() -> None:
    s = Smoother(LABELS, window=2, threshold=0.0, hysteresis=0.0)
    s.update(p(1, 0, 0))
    s.update(p(0, 1, 0))
    out = s.update(p(0, 0, 1))  # only the last two count
    np.testing.assert_allclose(out.probs, [0, 0.5, 0.5])


def test_threshold_gives_no_confident_action() -> None:
    s = Smoother(LABELS, window=1, threshold=0.5, hysteresis=0.0)
    out = s.update(p(0.4, 0.35, 0.25))
    assert out.label is None and out.class_id is None and out.confidence == pytest.approx(0.4)
    out = s.update(p(0.6, 0.3, 0.1))
    assert out.label == "a" and out.confidence == pytest.approx(0.6)


def test_hysteresis_keeps_label_until_clear_lead_or_clear_drop() -> None:
    s = Smoother(LABELS, window=1, threshold=0.4, hysteresis=0.1)
    assert s.update(p(0.5, 0.3, 0.2)).label == "a"
    assert s.update(p(0.42, 0.48, 0.1)).label == "a"  # b leads by 0.06 < 0.1: no flicker
    assert s.update(p(0.35, 0.3, 0.35)).label == "a"  # below threshold but above threshold - hysteresis
    assert s.update(p(0.25, 0.6, 0.15)).label == "b"  # clear lead
    assert s.update(p(0.2, 0.25, 0.2)).label is None  # dropped below 0.3
    # without hysteresis the same sequence flickers
    plain = Smoother(LABELS, window=1, threshold=0.4, hysteresis=0.0)
    labels = [plain.update(v).label for v in (p(0.5, 0.3, 0.2), p(0.42, 0.48, 0.1))]
    assert labels == ["a", "b"]


def test_configure_and_reset() -> None:
    s = Smoother(LABELS, window=3, threshold=0.0, hysteresis=0.0)
    for v in (p(1, 0, 0), p(0, 1, 0), p(0, 0, 1)):
        s.update(v)
    s.configure(window=1)
    assert s.update(p(0, 1, 0)).label == "b"
    s.reset(categories=("x", "y", "z"))
    out = s.update(p(0, 0, 1))
    assert out.label == "z"
    np.testing.assert_allclose(out.probs, [0, 0, 1])


@pytest.mark.parametrize("kwargs", [dict(window=0), dict(threshold=1.5), dict(hysteresis=-0.1)])
def test_bad_settings_raise(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        Smoother(LABELS, **kwargs)
    with pytest.raises(ConfigError):
        Smoother(LABELS).configure(**kwargs)


def test_top_k_sorted_and_clamped() -> None:
    assert top_k(p(0.2, 0.5, 0.3), LABELS, 2) == (("b", pytest.approx(0.5)), ("c", pytest.approx(0.3)))
    assert len(top_k(p(0.2, 0.5, 0.3), LABELS, 10)) == 3


# --- edges, pinned exactly (values exact in float32) -------------------------------------------------------------
@pytest.mark.parametrize("kw,says", [
    ({"window": 0}, "smoothing must average at least 1 prediction, got 0"),
    ({"threshold": 1.0001}, r"threshold must be in \[0, 1\], got 1.0001"),
    ({"threshold": -0.1}, r"threshold must be in \[0, 1\], got -0.1"),
    ({"hysteresis": 1.5}, r"hysteresis must be in \[0, 1\], got 1.5"),
    ({"hysteresis": -0.5}, r"hysteresis must be in \[0, 1\], got -0.5"),
])
def test_bad_settings_say_what_is_wrong(kw, says) -> None:
    with pytest.raises(ConfigError, match=f"^{says}$"):
        Smoother(LABELS, **kw)
    with pytest.raises(ConfigError, match=f"^{says}$"):
        Smoother(LABELS).configure(**kw)


def test_the_edges_of_the_settings_and_the_defaults() -> None:
    Smoother(LABELS, window=1, threshold=1.0, hysteresis=1.0)
    Smoother(LABELS, threshold=0.0, hysteresis=0.0)
    s = Smoother(LABELS)
    assert (s.window, s.threshold, s.hysteresis) == (3, 0.2, 0.1)


def test_a_smaller_window_keeps_the_newest_and_a_larger_one_keeps_all() -> None:
    s = Smoother(LABELS, window=3, threshold=0.0, hysteresis=0.0)
    for v in (p(1, 0, 0), p(0, 1, 0), p(0, 0, 1)):
        s.update(v)
    s.configure(window=2)
    np.testing.assert_allclose(s.update(p(0, 0, 1)).probs, [0, 0, 1])  # the newest two: (0,0,1) twice
    s.configure(window=4)
    np.testing.assert_allclose(s.update(p(1, 0, 0)).probs, [1 / 3, 0, 2 / 3])  # kept both, now three


def test_the_shown_label_stays_at_exactly_threshold_minus_hysteresis() -> None:
    s = Smoother(LABELS, window=1, threshold=0.5, hysteresis=0.25)
    assert s.update(p(0.5, 0.25, 0.25)).label == "a"  # exactly the threshold: shown
    out = s.update(p(0.25, 0.375, 0.375))  # a at exactly 0.25 = 0.5 - 0.25; b leads by 0.125 only
    assert (out.label, out.class_id, out.confidence) == ("a", 0, 0.25)
    out = s.update(p(0.25, 0.5, 0.25))  # b leads by exactly the hysteresis: not more, no switch
    assert out.label == "a"
    out = s.update(p(0.2, 0.5, 0.3))  # b leads by 0.3 > 0.25: switches to b
    assert (out.label, out.class_id, out.confidence) == ("b", 1, 0.5)


def test_no_confident_action_still_gives_the_smoothed_vector() -> None:
    s = Smoother(LABELS, window=2, threshold=0.9, hysteresis=0.0)
    s.update(p(0.5, 0.5, 0.0))
    out = s.update(np.array([0.7, 0.2, 0.1], np.float64))
    assert out.label is None and out.class_id is None and out.confidence == pytest.approx(0.6)
    assert out.probs.dtype == np.float32
    np.testing.assert_allclose(out.probs, [0.6, 0.35, 0.05], rtol=1e-6)


def test_more_classes_than_names_and_a_new_class_count() -> None:
    s = Smoother(("a",), window=1, threshold=0.0, hysteresis=0.0)
    out = s.update(p(0.1, 0.9))
    assert (out.label, out.class_id) == ("class 1", 1)  # a class without a name
    out = s.update(p(0.1, 0.2, 0.7))  # another model: the history and the shown label start again
    assert (out.label, out.class_id) == ("class 2", 2)
    np.testing.assert_allclose(out.probs, [0.1, 0.2, 0.7])
