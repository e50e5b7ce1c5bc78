"""Keeping a person's identity across windows: IoU matching of this window's boxes to the live tracks.

Greedy matching, highest IoU first (the SORT family's rule without a motion model): with a handful of people
per frame it gives the Hungarian assignment's answer in all but contrived overlaps, and needs no solver.
A track not matched for `max_missed` windows ends; an unmatched box starts a new track with the next id.
Each track has its own `Smoother` (stream/smoothing.py), so a label stays with its person and does not flicker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from slowfast_core.detect.base import PersonBox
from slowfast_core.errors import ConfigError
from slowfast_core.stream.smoothing import SmoothedLabel, Smoother

def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 when they do not overlap."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """One person followed across windows: id, last box, windows since last seen, its own smoother."""

    track_id: int
    box: PersonBox
    smoother: Smoother
    missed: int = 0
    age: int = 1
    last: SmoothedLabel | None = field(default=None)


@dataclass(frozen=True)
class TrackedPerson:
    """A person in this window: track id, box, and (after `update_actions`) the smoothed label."""

    track_id: int
    box: PersonBox


class Tracker:
    """IoU tracker with a Smoother per track. Not thread-safe: the worker (or predict) owns it."""

    def __init__(self, categories: Sequence[str], *, iou_threshold: float = 0.3, max_missed: int = 2,
                 window: int = 3, threshold: float = 0.5, hysteresis: float = 0.1) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ConfigError(f"IoU threshold must be in (0, 1], got {iou_threshold}")
        if max_missed < 0:
            raise ConfigError(f"max_missed must be >= 0, got {max_missed}")
        self.categories = tuple(categories)
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._smoothing = {"window": window, "threshold": threshold, "hysteresis": hysteresis}
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (new source or model); ids start again at 1."""
        self.tracks.clear()
        self._next_id = 1

    def update(self, boxes: Sequence[PersonBox]) -> list[TrackedPerson]:
        """Match this window's boxes to tracks; returns one TrackedPerson per box, in the boxes' order."""
        live = list(self.tracks.values())
        pairs = sorted(((iou(t.box.xyxy, b.xyxy), ti, bi) for ti, t in enumerate(live) for bi, b in enumerate(boxes)),
                       reverse=True)
        used_t: set[int] = set()
        assigned: dict[int, Track] = {}
        for score, ti, bi in pairs:
            if score < self.iou_threshold:
                break
            if ti in used_t or bi in assigned:
                continue
            used_t.add(ti)
            assigned[bi] = live[ti]
        for ti, t in enumerate(live):
            if ti not in used_t:
                t.missed += 1
                if t.missed > self.max_missed:
                    del self.tracks[t.track_id]
        out = []
        for bi, box in enumerate(boxes):
            track = assigned.get(bi)
            if track is None:
                track = Track(self._next_id, box, Smoother(self.categories, **self._smoothing))
                self.tracks[track.track_id] = track
                self._next_id += 1
            else:
                track.box, track.missed, track.age = box, 0, track.age + 1
            out.append(TrackedPerson(track.track_id, box))
        return out

    def smooth(self, track_id: int, probs: np.ndarray) -> SmoothedLabel:
        """Feed track `track_id`'s per-class probabilities to its own smoother; the label to show."""
        track = self.tracks[track_id]
        track.last = track.smoother.update(np.asarray(probs, np.float32))
        return track.last
