"""How well the model's predictions agree with the labels a person marked, over time.

The predictions become a step function of time: each prediction's (smoothed) label holds around the
middle of its window, up to halfway to the neighbouring predictions (and never more than `max_gap / 2`
away, so a stall does not stretch one answer over seconds). Agreement is the fraction of labeled time
during which that predicted label equals the marked one, overall and per label. Names compare case- and
separator-insensitively ("Waving_hand" == "waving hand").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


def predicted_segments(predictions: Iterable[PredictionRecord], *, max_gap: float = 2.0) -> list[LabeledSegment]:
    """The predictions as labeled segments (see the module doc); "no confident action" leaves a hole.

    Consecutive predictions with the same label merge into one segment. Sorted by start.
    """
    preds = sorted(predictions, key=lambda p: p.mid)
    if not preds:
        return []
    half = max_gap / 2.0
    mids = [p.mid for p in preds]
    out: list[LabeledSegment] = []
    for i, p in enumerate(preds):
        left = (mids[i] - mids[i - 1]) / 2.0 if i > 0 else None
        right = (mids[i + 1] - mids[i]) / 2.0 if i + 1 < len(preds) else None
        left = min(left if left is not None else (right if right is not None else 0.0), half)
        right = min(right if right is not None else left, half)
        start, end = mids[i] - left, mids[i] + right
        if p.label is None or end <= start:
            continue
        if out and out[-1].label == p.label and abs(out[-1].end - start) < 1e-9:
            out[-1] = LabeledSegment(p.label, out[-1].start, end)
        else:
            out.append(LabeledSegment(p.label, start, end))
    return out


def agreement(
    labels: Sequence[LabeledSegment],
    predictions: Iterable[PredictionRecord],
    *,
    max_gap: float = 2.0,
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
