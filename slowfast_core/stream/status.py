"""The engine's status: the snapshot status bars show, the metrics `--metrics` writes, and the monitor thread
that publishes the snapshot about once a second (and watches for a stalled source, and samples memory).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from slowfast_core.model.net import SlowFast
from slowfast_core.stream.chain import Chain, RetiredCounts
from slowfast_core.stream.metrics import MetricsRecorder
from slowfast_core.stream.types import EngineError, EngineStatus, SourceState
from slowfast_core.stream.worker import InferenceWorker

logger = logging.getLogger(__name__)


class Monitor(threading.Thread):
    """Every `interval` s: `tick()` (stall check, memory sample, status). A failing tick is reported through
    `on_error` and the monitor carries on."""

    def __init__(self, *, interval: float, check: Callable[[], None], tick: Callable[[], None],
                 on_error: Callable[[EngineError], None]) -> None:
        super().__init__(name="slowfast-monitor", daemon=False)
        self.interval = interval
        self._check, self._tick, self._on_error = check, tick, on_error
        self.stop_event = threading.Event()

    def run(self) -> None:
        next_status = time.monotonic()
        while not self.stop_event.wait(min(0.25, self.interval)):
            try:
                self._check()
                now = time.monotonic()
                if now >= next_status:
                    self._tick()
                    next_status = now + self.interval
            except Exception as exc:  # reported, and the monitor carries on
                logger.debug("monitor failed", exc_info=True)
                self._on_error(EngineError("monitor", f"status monitor failed: {exc}", exception=exc))


def source_state(chain: Chain | None, *, running: bool, failed: bool) -> SourceState:
    """The state a status bar shows for the engine's current chain."""
    if failed:
        return "failed"
    if chain is None or not running:
        return "stopped"
    state = chain.capture.state
    if state == "running" and chain.capture.stats().frames_read == 0:
        return "opening"
    return state


def engine_status(*, chain: Chain | None, worker: InferenceWorker | None, retired: Sequence[RetiredCounts],
                  state: SourceState, model: SlowFast | None, recorder: MetricsRecorder,
                  message: str) -> EngineStatus:
    """A snapshot (counters summed over the retired chains and the current one). model: the one warming up, if
    the worker has none warm yet."""
    live = chain is not None and not chain.retired
    cap = chain.capture.stats() if live and chain is not None else None
    warm = worker.warm if worker is not None else None
    if warm is not None:
        model = warm.model

    def total(key: str, current: int) -> int:
        return sum(getattr(r, key) for r in retired) + current

    return EngineStatus(
        state=state,
        source=chain.source.name if chain is not None else "",
        width=chain.info.width if chain is not None else 0,
        height=chain.info.height if chain is not None else 0,
        capture_fps=round(cap.fps, 2) if cap is not None else 0.0,
        frames_read=total("frames_read", cap.frames_read if cap else 0),
        frames_dropped=total("frames_dropped", cap.frames_dropped if cap else 0),
        frames_late=total("frames_late", cap.frames_late if cap else 0),
        windows_done=worker.windows_done if worker is not None else 0,
        windows_dropped=total("windows_stale", chain.scheduler.windows_stale if live and chain else 0),
        model=model.config.name if model is not None else "",
        device=warm.backend.device.type if warm is not None else "",
        backend=warm.backend.name if warm is not None else "",
        inference_ms_p50=recorder.inference_p50(),
        end_to_end_ms_p50=recorder.end_to_end_p50(),
        message=message,
    )


def engine_metrics(status: EngineStatus, chain: Chain | None, recorder: MetricsRecorder) -> dict[str, Any]:
    """The issue's metrics: capture fps, drops, late, predictions/s, stale windows, latency p50/p95, RSS."""
    out: dict[str, Any] = {
        "source": status.source, "model": status.model, "backend": status.backend, "device": status.device,
        "state": status.state,
    }
    capture_fps = 0.0
    if chain is not None:
        cap = chain.capture.stats()
        if cap.first_arrival is not None and cap.last_arrival is not None and cap.last_arrival > cap.first_arrival:
            capture_fps = (cap.frames_read - 1) / (cap.last_arrival - cap.first_arrival)
        out["source_fps"] = chain.info.fps
        out["ring_buffer_frames"] = chain.buffer.capacity
        out["ring_buffer_mb"] = round(chain.buffer.nbytes / 2**20, 2)
    out.update({
        "capture_fps": round(capture_fps, 2),
        "frames_read": status.frames_read,
        "frames_dropped": status.frames_dropped,
        "frames_late": status.frames_late,
        "windows_done": status.windows_done,
        "windows_dropped_stale": status.windows_dropped,
    })
    out.update(recorder.summary())
    return out
