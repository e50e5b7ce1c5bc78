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
