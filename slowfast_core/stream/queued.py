"""A listener that writes files, behind its own bounded queue and thread: a slow or stalled disk then delays
nobody but that listener.

The engine calls its listeners on its own threads (capture: frames; inference: predictions). A listener that
writes a file on each call (predictions.jsonl, the `--jsonl` output) would hold that thread for as long as the
disk takes. `QueuedListener` takes the chosen calls (`methods`) off the engine's thread into a bounded queue
that one thread of its own drains in order; the other calls go through directly. When the queue is full the
event is dropped, counted per kind (`dropped`), and said once in the log: what was dropped and how to avoid it.
`drain` waits for what was accepted (the engine's `stop` does, so nothing arrives after it returns); `close`
drains and ends the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from slowfast_core.stream.types import EngineError, EngineListener, EngineStatus, FramePacket, Prediction

logger = logging.getLogger(__name__)

Event = FramePacket | Prediction | EngineStatus | EngineError
_STOP = object()


class QueuedListener:
    """`listener`'s `methods` called on a thread of its own, through a queue of `capacity` events."""

    def __init__(self, listener: EngineListener, *, capacity: int = 256,
                 methods: tuple[str, ...] = ("on_prediction",)) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.listener = listener
        self.methods = frozenset(methods)
        self.dropped: dict[str, int] = {}
        self._queue: queue.Queue[tuple[str, Event] | object] = queue.Queue(maxsize=capacity)
        self._complained: set[str] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"slowfast-listener-{type(listener).__name__}",
                                        daemon=True)
        self._thread.start()

    # --- the engine's side (its threads; never blocks) ---------------------------------------------------------
    def on_frame(self, frame: FramePacket) -> None:
        self._deliver("on_frame", frame)

    def on_prediction(self, prediction: Prediction) -> None:
        self._deliver("on_prediction", prediction)

    def on_status(self, status: EngineStatus) -> None:
        self._deliver("on_status", status)

    def on_error(self, error: EngineError) -> None:
        self._deliver("on_error", error)

    def _deliver(self, method: str, event: Event) -> None:
        fn = getattr(self.listener, method, None)
        if fn is None:
            return
        if method not in self.methods:
            fn(event)
            return
        if self._closed:
            return
        try:
            self._queue.put_nowait((method, event))
        except queue.Full:
            self.dropped[method] = self.dropped.get(method, 0) + 1
            if method not in self._complained:  # once per kind, not at every event
                self._complained.add(method)
                logger.warning("%s fell %d events behind (a slow disk?): dropping its %s events until it "
                               "catches up; they are counted in its `dropped`", type(self.listener).__name__,
                               self._queue.maxsize, method.removeprefix("on_"))

    # --- its own thread ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                method, event = item  # type: ignore[misc]
                try:
                    getattr(self.listener, method)(event)
                except Exception:  # noqa: BLE001 - a failing listener is logged, never fatal (as in the hub)
                    if method not in self._complained:
                        self._complained.add(method)
                        logger.warning("listener %r failed in %s", self.listener, method, exc_info=True)
            finally:
                self._queue.task_done()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every accepted event was handed on (at most `timeout` s); True when the queue is empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float | None = 10.0) -> bool:
        """Hand on what was accepted, accept nothing more and end the thread; True when it ended in time."""
        self._closed = True
        drained = self.drain(timeout)
        self._queue.put(_STOP)
        self._thread.join(0.0 if not drained else timeout)
        return drained and not self._thread.is_alive()
