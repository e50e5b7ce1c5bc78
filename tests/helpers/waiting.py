"""Waiting on conditions, never on the clock.

Most waits in the tests are on events (`threading.Event`, a `Condition` in `EventLog`, Qt signals,
`qtbot.waitUntil`). A few conditions have no event to wait on (a file appearing, a counter in another
process's output, a thread's private state); `wait_until` polls those, and it is the only poll in the tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: seconds between two looks at a polled condition
POLL_S = 0.01


def wait_until(condition: Callable[[], object], timeout: float = 60.0, what: str = "the condition") -> None:
    """Return as soon as `condition()` is true; fail the test after `timeout` seconds (generous: the test
    machine is small and shared, and a condition that holds returns at once)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_S)  # the poll interval of a condition wait, not a wait for something
