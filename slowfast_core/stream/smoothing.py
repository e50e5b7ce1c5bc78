"""Turning a stream of per-window probabilities into a steady label.

Three steps, after mmaction2's webcam demo (`--average-size`, `--threshold`) plus hysteresis:
1. mean of the last N probability vectors (N = 1: no smoothing);
2. below `threshold` the answer is "no confident action" (label None);
3. hysteresis: a shown label stays until its probability falls below threshold - hysteresis, and another
   class replaces it only when it leads by more than `hysteresis`, so the label does not flicker between
   two close classes.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slowfast_core.errors import ConfigError


@dataclass(frozen=True)
class SmoothedLabel:
    """The label to show (None: no confident action), its smoothed probability, and the smoothed vector."""

    label: str | None
    class_id: int | None
    confidence: float
    probs: np.ndarray  # (num_classes,) float32, mean of the last N


def check_smoothing(*, window: int, threshold: float, hysteresis: float) -> None:
    """Raise ConfigError for settings that make no sense."""
    if window < 1:
        raise ConfigError(f"smoothing must average at least 1 prediction, got {window}")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold}")
    if not 0.0 <= hysteresis <= 1.0:
        raise ConfigError(f"hysteresis must be in [0, 1], got {hysteresis}")


class Smoother:
    """Mean of the last N probability vectors, threshold and hysteresis. Thread-safe; settings change live."""

    def __init__(self, categories: Sequence[str], *, window: int = 3, threshold: float = 0.2,
                 hysteresis: float = 0.1) -> None:
        check_smoothing(window=window, threshold=threshold, hysteresis=hysteresis)
        self.categories = tuple(categories)
        self.window = window
        self.threshold = threshold
        self.hysteresis = hysteresis
        self._history: deque[np.ndarray] = deque(maxlen=window)
        self._current: int | None = None
        self._lock = threading.Lock()

    def configure(self, *, window: int | None = None, threshold: float | None = None,
                  hysteresis: float | None = None) -> None:
        """Change settings; a new window size keeps the newest vectors that fit."""
        with self._lock:
            w = self.window if window is None else window
            t = self.threshold if threshold is None else threshold
            h = self.hysteresis if hysteresis is None else hysteresis
            check_smoothing(window=w, threshold=t, hysteresis=h)
            self.window, self.threshold, self.hysteresis = w, t, h
            self._history = deque(self._history, maxlen=w)

    def reset(self, categories: Sequence[str] | None = None) -> None:
        """Forget the history and the shown label (new source or model)."""
        with self._lock:
            if categories is not None:
                self.categories = tuple(categories)
            self._history.clear()
            self._current = None

    def update(self, probs: np.ndarray) -> SmoothedLabel:
        """Add one probability vector (num_classes,) and return the label to show now."""
        with self._lock:
            if self._history and self._history[-1].shape != probs.shape:
                self._history.clear()
                self._current = None
            self._history.append(np.asarray(probs, dtype=np.float32))
            mean = np.mean(np.stack(self._history), axis=0)  # (num_classes,)
            best = int(np.argmax(mean))
            current = self._current
            if current is not None:
                if mean[current] < self.threshold - self.hysteresis:
                    current = None
                elif best != current and mean[best] > mean[current] + self.hysteresis:
                    current = best
            if current is None and mean[best] >= self.threshold:
                current = best
            self._current = current
            if current is None:
                return SmoothedLabel(None, None, float(mean[best]), mean)
            name = self.categories[current] if current < len(self.categories) else f"class {current}"
            return SmoothedLabel(name, current, float(mean[current]), mean)
