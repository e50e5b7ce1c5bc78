"""Stopping the window's engine side in the one safe order: whoever sends requests stops first, then the engine.

The live session's control thread (`EngineController.session`) starts and switches the engine. Stopping the engine first found
nothing to stop while a start was still on its way (a camera opening, a queued `requestStart`), and the
controller then started engine threads after the window had closed (issue 11 §6). So: the controller quits
(wishes not yet applied are dropped; one already running ends), bounded; then the engine stops, bounded; and when the
controller outlived its first wait, it is waited for once more within what is left of the budget and the
engine stopped again, so that a start finishing late is stopped too. The engine is closed, not only stopped:
a start that arrives after the whole budget (a camera answering later still) is refused.
"""

from __future__ import annotations

import logging
import time

from app.engine_control import EngineController
from slowfast_core.stream.engine import Engine

logger = logging.getLogger(__name__)

#: the share of the budget the controller gets first (the engine's own stop gets the rest)
CONTROL_SHARE = 0.5


def stop_engine_side(control: EngineController, engine: Engine, *, timeout_s: float = 2.0) -> bool:
    """Stop `control`, then close `engine`, within about `timeout_s` seconds in all. True when both have ended."""
    deadline = time.monotonic() + timeout_s

    def left_s() -> float:
        return max(0.0, deadline - time.monotonic())

    control_ok = control.shutdown(int(left_s() * CONTROL_SHARE * 1000))
    engine_ok = engine.close(timeout=left_s())
    if not control_ok:  # a request was still running: wait for it, then stop whatever it started
        control_ok = control.wait(int(left_s() * 1000))
        if control_ok:
            engine_ok = engine.close(timeout=left_s())
    if not control_ok:
        logger.warning("the engine controller did not stop within %.1f s", timeout_s)
    if not engine_ok:
        logger.warning("some engine threads did not stop within %.1f s", timeout_s)
    return control_ok and engine_ok
