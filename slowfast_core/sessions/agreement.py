"""How well the model's predictions agree with the labels a person marked, over time.

The predictions become a step function of time: the action segments of `slowfast_core.segments` (each
prediction's smoothed label holds around the middle of its window, up to halfway to its neighbours, never
more than `max_gap / 2` away, so a stall does not stretch one answer over seconds). Agreement is the
fraction of labeled time during which that predicted label equals the marked one, overall and per label.
Names compare case- and separator-insensitively ("Waving_hand" == "waving hand").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slowfast_core.segments import MAX_GAP, action_segments
from slowfast_core.sessions.layout import LabeledSegment
from slowfast_core.sessions.store import PredictionRecord


@dataclass(frozen=True)
class LabelAgreement:
    """Labeled and matching time for one label, in seconds."""

    label: str
    labeled_seconds: float
    matched_seconds: float

    @property
    def fraction(self) -> float | None:
        """matched / labeled, or None when the label was never marked."""
        return self.matched_seconds / self.labeled_seconds if self.labeled_seconds > 0 else None


@dataclass(frozen=True)
class Agreement:
    """Agreement over a whole session: totals and one LabelAgreement per marked label."""

    labeled_seconds: float
    matched_seconds: float
    per_label: dict[str, LabelAgreement]

    @property
    def fraction(self) -> float | None:
        """Share of the labeled time where the predicted label matched, or None with no labeled time."""
        return self.matched_seconds / self.labeled_seconds if self.labeled_seconds > 0 else None


def normalize_label(name: str) -> str:
    """The form labels compare in: lower case, '_' and runs of spaces as one space."""
    return re.sub(r"[\s_]+", " ", name).strip().lower()


def predicted_segments(predictions: Iterable[PredictionRecord], *, max_gap: float = MAX_GAP) -> list[LabeledSegment]:
    """The predictions as labeled segments: `slowfast_core.segments.action_segments` (the one placement of
    predictions in time, shared with `predict --segments` and the Sessions window's timeline)."""
    return [LabeledSegment(s.label, s.start, s.end) for s in action_segments(predictions, max_gap=max_gap)]


def agreement(
    labels: Sequence[LabeledSegment],
    predictions: Iterable[PredictionRecord],
    *,
    max_gap: float = MAX_GAP,
) -> Agreement:
    """Compare marked `labels` with `predictions` over time (see the module doc)."""
    predicted = predicted_segments(predictions, max_gap=max_gap)
    by_label: dict[str, list[float]] = {}
    for seg in labels:
        key = normalize_label(seg.label)
        matched = sum(_overlap(seg, p) for p in predicted if normalize_label(p.label) == key)
        acc = by_label.setdefault(seg.label, [0.0, 0.0])
        acc[0] += seg.duration
        acc[1] += matched
    per_label = {name: LabelAgreement(name, total, matched) for name, (total, matched) in by_label.items()}
    return Agreement(
        labeled_seconds=sum(a.labeled_seconds for a in per_label.values()),
        matched_seconds=sum(a.matched_seconds for a in per_label.values()),
        per_label=per_label,
    )


def _overlap(a: LabeledSegment, b: LabeledSegment) -> float:
    """Seconds that two spans share."""
    return max(0.0, min(a.end, b.end) - max(a.start, b.start))
