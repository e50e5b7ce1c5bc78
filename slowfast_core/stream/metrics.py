"""Pipeline metrics: what the issue asks `slowfast run --metrics` and `slowfast bench pipeline` to report.

A `MetricsRecorder` is an engine listener (it only keeps bounded histories of timings); the engine combines
it with the capture and scheduler counters in `Engine.metrics()`. Latencies are reported as p50/p95 in ms;
overhead = end-to-end minus inference, per window, i.e. everything the pipeline adds around the model.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import numpy as np

from slowfast_core.stream.types import Prediction

#: predictions kept for percentiles (about 40 minutes at 2 predictions per second)
HISTORY = 5000


def rss_mb() -> float:
    """Resident memory of this process in MiB (psutil)."""
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def percentile(values: list[float] | np.ndarray, q: float) -> float | None:
    """The q-th percentile (linear interpolation), None for no values."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


class MetricsRecorder:
    """Collects per-prediction timings (bounded) and the run's start time and memory. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start a new measurement (new run)."""
        with self._lock:
            self.started = time.monotonic()
            self.rss_start_mb = rss_mb()
            self.rss_peak_mb = self.rss_start_mb
            self.predictions = 0
            self.rss_warm_mb: float | None = None  # at the first prediction: after warm-up and allocations
            self.first_prediction: float | None = None
            self.last_prediction: float | None = None
            self._inference: deque[float] = deque(maxlen=HISTORY)
            self._end_to_end: deque[float] = deque(maxlen=HISTORY)
            self._overhead: deque[float] = deque(maxlen=HISTORY)
            self._waited: deque[float] = deque(maxlen=HISTORY)
            self._prepared: deque[float] = deque(maxlen=HISTORY)

    def on_prediction(self, prediction: Prediction) -> None:
        t = prediction.timings
        now = time.monotonic()
        if self.first_prediction is None:
            rss = rss_mb()
            with self._lock:
                self.rss_warm_mb = rss
        with self._lock:
            self.predictions += 1
            if self.first_prediction is None:
                self.first_prediction = now
            self.last_prediction = now
            self._inference.append(t.inferred_ms)
            self._end_to_end.append(t.end_to_end_ms)
            self._overhead.append(t.end_to_end_ms - t.inferred_ms)
            self._waited.append(t.waited_ms)
            self._prepared.append(t.prepared_ms)

    def sample_memory(self) -> float:
        """Measure RSS now (called about once a second by the engine); returns it."""
        rss = rss_mb()
        with self._lock:
            self.rss_peak_mb = max(self.rss_peak_mb, rss)
        return rss

    def inference_p50(self) -> float | None:
        with self._lock:
            return percentile(list(self._inference), 50)

    def end_to_end_p50(self) -> float | None:
        with self._lock:
            return percentile(list(self._end_to_end), 50)

    def summary(self) -> dict[str, float | int | None]:
        """Prediction-side metrics: counts, rate, p50/p95 of inference, end-to-end, overhead, wait, prepare."""
        with self._lock:
            elapsed = time.monotonic() - self.started
            out: dict[str, float | int | None] = {
                "duration_s": round(elapsed, 3),
                "predictions": self.predictions,
                "predictions_per_s": round(self.predictions / elapsed, 3) if elapsed > 0 else 0.0,
            }
            for name, values in (("inference", self._inference), ("end_to_end", self._end_to_end),
                                 ("overhead", self._overhead), ("waited", self._waited),
                                 ("prepared", self._prepared)):
                for q in (50, 95):
                    value = percentile(list(values), q)
                    out[f"{name}_ms_p{q}"] = None if value is None else round(value, 2)
            out["rss_start_mb"] = round(self.rss_start_mb, 1)
            out["rss_warm_mb"] = None if self.rss_warm_mb is None else round(self.rss_warm_mb, 1)
            out["rss_peak_mb"] = round(self.rss_peak_mb, 1)
        out["rss_end_mb"] = round(self.sample_memory(), 1)
        return out
