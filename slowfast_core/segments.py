"""Action segments: per-window predictions merged into (label, start, end, confidence) spans of time.

One implementation for every place that shows when an action happened: `slowfast predict --segments` (and its
subtitles), the folder runs' summaries, the Sessions window's predicted timeline and the agreement with the
labels a person marked (`sessions.agreement`).

Two steps:
1. `smooth_records`: the live view's smoothing (`stream.smoothing.Smoother`: mean of the last N windows,
   threshold, hysteresis) turns raw window probabilities into the label a live viewer saw; recorded sessions
   already hold that label (the live engine smoothed it), so they skip this step.
2. `action_segments`: each window's label holds around the middle of its window, up to halfway to the
   neighbouring windows (never more than `max_gap / 2` away, so a stall does not stretch one answer over
   seconds; a lone window covers its own span). Neighbours with the same label merge; "no confident action"
   (label None) leaves a hole. A segment's confidence is the time-weighted mean of its windows' smoothed
   confidence.

Smoothing over N windows makes a change appear about (N - 1) / 2 strides late, as it did on screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from slowfast_core.records import PredictionRecord
from slowfast_core.stream.smoothing import Smoother

#: default largest gap between windows that one answer bridges (seconds)
MAX_GAP = 2.0


@dataclass(frozen=True)
class ActionSegment:
    """An action and the span of time it was seen (seconds from the first frame), with its mean confidence."""

    label: str
    start: float
    end: float
    confidence: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, object]:
        """{"label", "start", "end", "confidence"}, times rounded to 1 ms and the confidence to 1e-4."""
        return {"label": self.label, "start": round(self.start, 3), "end": round(self.end, 3),
                "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class SmoothingSettings:
    """The live view's smoothing: windows averaged, threshold for a confident label, hysteresis margin."""

    window: int = 3
    threshold: float = 0.2
    hysteresis: float = 0.1

    @classmethod
    def live_defaults(cls) -> "SmoothingSettings":
        """The live engine's defaults (`EngineSettings`), so offline segments match what the window shows."""
        from slowfast_core.stream.settings import EngineSettings

        s = EngineSettings()
        return cls(window=s.smoothing, threshold=s.threshold, hysteresis=s.hysteresis)


def smooth_records(
    windows: Iterable[tuple[PredictionRecord, np.ndarray]], categories: Sequence[str],
    settings: SmoothingSettings | None = None,
) -> Iterator[PredictionRecord]:
    """Each (record, probabilities (C,)) in time order, as its record with the smoothed `label`/`confidence`
    set (what the live overlay showed after that window)."""
    s = settings or SmoothingSettings.live_defaults()
    smoother = Smoother(categories, window=s.window, threshold=s.threshold, hysteresis=s.hysteresis)
    for record, probs in windows:
        shown = smoother.update(probs)
        yield replace(record, label=shown.label, confidence=shown.confidence)


def action_segments(records: Iterable[PredictionRecord], *, max_gap: float = MAX_GAP) -> list[ActionSegment]:
    """The smoothed records as action segments, sorted by start (see the module doc)."""
    preds = sorted(records, key=lambda p: p.mid)
    half = max_gap / 2.0
    mids = [p.mid for p in preds]
    out: list[ActionSegment] = []
    weight = 0.0  # seconds behind the last segment's confidence (its time-weighted mean)
    for i, p in enumerate(preds):
        left = (mids[i] - mids[i - 1]) / 2.0 if i > 0 else None
        right = (mids[i + 1] - mids[i]) / 2.0 if i + 1 < len(preds) else None
        if left is None and right is None:  # a lone window (a clip shorter than two): its own span
            left = right = (p.end - p.start) / 2.0
        else:
            left = min(left if left is not None else right, half)  # type: ignore[type-var]
            right = min(right if right is not None else left, half)
        start, end = mids[i] - left, mids[i] + right
        if p.label is None or end <= start:
            continue
        conf = float(p.confidence) if p.confidence is not None else 0.0
        if out and out[-1].label == p.label and abs(out[-1].end - start) < 1e-9:
            last, span = out[-1], end - start
            mean = (last.confidence * weight + conf * span) / (weight + span)
            out[-1] = ActionSegment(p.label, last.start, end, mean)
            weight += span
        else:
            out.append(ActionSegment(p.label, start, end, conf))
            weight = end - start
    return out


def segments_from_windows(
    windows: Iterable[tuple[PredictionRecord, np.ndarray]], categories: Sequence[str],
    settings: SmoothingSettings | None = None, *, max_gap: float = MAX_GAP,
) -> list[ActionSegment]:
    """Raw window predictions -> the live view's smoothing -> action segments (`predict --segments`)."""
    return action_segments(smooth_records(windows, categories, settings), max_gap=max_gap)


def format_time(seconds: float) -> str:
    """`m:ss.s` (or `h:mm:ss.s` past an hour): how segments read in text output, e.g. 0:03.2."""
    tenths = int(round(max(0.0, seconds) * 10))
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    s = rest / 10
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"
