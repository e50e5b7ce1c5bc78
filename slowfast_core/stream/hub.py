"""The engine's listener hub: subscribers (`EngineListener`) and the gate that ends publishing at stop.

Every event from an engine thread goes through `publish`, which holds the gate's lock while it calls the
listeners: `close()` waits for a publish in flight and refuses every later one, so once `Engine.stop`
returned no listener (window, recorder, JSONL writer) and no metric hears of another frame or prediction,
even from a thread whose join timed out. `epoch` counts closes: a start or switch that began before a stop
sees it changed and does not reopen the gate (the stop wins).
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
        self._gate = threading.RLock()  # held while publishing; re-entrant: a listener may call stop()
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
        """Wait for a publish in flight, then refuse every later one (until `open_if`)."""
        with self._gate:
            self._open = False
            self._epoch += 1

    def publish(self, method: Method, event: Event, *, before: Callable[[], None] | None = None) -> bool:
        """Give `event` to every listener while the gate is open (`before` runs first, under the same gate:
        the metrics); False when closed and nothing was published."""
        with self._gate:
            if not self._open:
                return False
            if before is not None:
                before()
            self.emit(method, event)
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
