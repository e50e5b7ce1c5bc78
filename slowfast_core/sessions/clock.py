"""A session's clock: engine timestamps to session seconds, with one owner.

Time 0 is the first frame's timestamp, on whatever clock the engine stamps frames with (time.monotonic() live,
media time for files on their own clock). Should that clock jump back (a file that loops, a reopened source),
session time goes on one frame period after the newest frame. Only the capture thread moves the clock
(`stamp`, once per frame); the inference thread (predictions), the GUI thread (label marks) and the writer
read it, each read one consistent (offset, newest) pair under the clock's own lock, so the recorder's time
no longer depends on the engine serialising its listeners.
"""

from __future__ import annotations

import threading


class SessionClock:
    """Session time for engine timestamps; `stamp` moves it (one thread), the rest only read it."""

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / float(fps)
        self._lock = threading.Lock()
        self._origin: float | None = None  # the first frame's timestamp (session.json's clock_origin)
        self._offset: float | None = None  # engine timestamp - offset = session time
        self._newest: float | None = None  # session time of the newest stamped frame

    def stamp(self, timestamp: float) -> float:
        """Session time of a frame stamped `timestamp` (the first one is 0; a jump back continues one period
        after the newest)."""
        with self._lock:
            if self._offset is None:
                self._origin = self._offset = timestamp
            rel = timestamp - self._offset
            if self._newest is not None and rel < self._newest:
                rel = self._newest + self._period
                self._offset = timestamp - rel
            self._newest = rel
            return rel

    @property
    def origin(self) -> float | None:
        """The first frame's engine timestamp, None before it."""
        with self._lock:
            return self._origin

    @property
    def offset(self) -> float | None:
        """What is subtracted from engine timestamps now (None before the first frame)."""
        with self._lock:
            return self._offset

    def session_time(self, at: float | None) -> float:
        """Engine timestamp `at` (None: the newest frame's) as session seconds, never negative (0 before the
        first frame)."""
        with self._lock:
            offset, newest = self._offset, self._newest
        if at is None or offset is None:
            return max(0.0, newest or 0.0)
        return max(0.0, at - offset)
