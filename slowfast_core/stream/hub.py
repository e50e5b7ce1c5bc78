"""The engine's listener hub: subscribers (`EngineListener`) and the gate that ends publishing at stop.

Every event from an engine thread goes through `publish`, which passes the gate (open? count the publish as
in flight) under a short lock and calls the listeners *outside* it: the capture thread's frame never waits
behind the inference thread's prediction being written to disk (nor the reverse), so listeners must be
thread-safe. `close()` refuses every later publish and waits for those in flight on other threads, so once
`Engine.stop` returned no listener (window, recorder, JSONL writer) and no metric hears of another frame or
prediction, even from a thread whose join timed out. `epoch` counts closes: a start or switch that began
before a stop sees it changed and does not reopen the gate (the stop wins).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Literal

from slowfast_core.stream.types import EngineError, EngineListener, EngineStatus, FramePacket, Prediction

logger = logging.getLogger(__name__)

Event = FramePacket | Prediction | EngineStatus | EngineError
Method = Literal["on_frame", "on_prediction", "on_status", "on_error"]


class Hub:
    """Subscribers and the dispatch of events to them; a failing listener is logged, never fatal."""

    def __init__(self) -> None:
        self._listeners: tuple[EngineListener, ...] = ()
        self._lock = threading.Lock()  # the subscriber list
        self._gate = threading.Condition(threading.Lock())  # guards _open, _epoch, _in_flight (never held
        # while listeners run)
        self._in_flight: dict[int, int] = {}  # thread id -> publishes it has in flight (a listener may publish)
        self._open = False
        self._epoch = 0
        self._complained: set[tuple[int, str]] = set()

    def add(self, listener: EngineListener) -> Callable[[], None]:
        """Subscribe `listener` (any subset of the protocol's methods); returns its unsubscribe."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    # --- the gate -----------------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """How many times the gate was closed (read it before a start; see `open_if`)."""
        with self._gate:
            return self._epoch

    def open_if(self, epoch: int) -> bool:
        """Open the gate unless it was closed since `epoch` was read (a stop came meanwhile): True if open."""
        with self._gate:
            if self._epoch != epoch:
                return False
            self._open = True
            return True

    def close(self) -> None:
        """Refuse every later publish (until `open_if`), then wait for those in flight on other threads (a
        listener that stops the engine from inside its call does not wait for itself)."""
        me = threading.get_ident()
        with self._gate:
            self._open = False
            self._epoch += 1
            self._gate.wait_for(lambda: not any(n for t, n in self._in_flight.items() if t != me))

    @property
    def in_flight(self) -> int:
        """Publishes whose listeners are running now (all threads)."""
        with self._gate:
            return sum(self._in_flight.values())

    def publish(self, method: Method, event: Event, *, before: Callable[[], None] | None = None) -> bool:
        """Give `event` to every listener while the gate is open; False when closed and nothing was published.

        `before` (the metrics) runs first, under the gate, so that no count changes after a close; the
        listeners run outside it, counted in flight so that `close` can wait for them."""
        me = threading.get_ident()
        with self._gate:
            if not self._open:
                return False
            if before is not None:
                before()
            self._in_flight[me] = self._in_flight.get(me, 0) + 1
        try:
            self.emit(method, event)
        finally:
            with self._gate:
                left = self._in_flight[me] - 1
                if left:
                    self._in_flight[me] = left
                else:
                    del self._in_flight[me]
                    self._gate.notify_all()
        return True

    def emit(self, method: Method, event: Event) -> None:
        """Give `event` to every listener, gate or not (the engine's own last status at stop)."""
        for listener in self._listeners:  # a tuple snapshot: subscribing meanwhile is safe
            fn = getattr(listener, method, None)
            if fn is None:
                continue
            try:
                fn(event)
            except Exception:
                key = (id(listener), method)
                if key not in self._complained:  # once per listener and event kind, not 30 times a second
                    self._complained.add(key)
                    logger.warning("listener %r failed in %s", listener, method, exc_info=True)
