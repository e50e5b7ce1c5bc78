"""A small progress bar on stderr, for downloads (bytes) and video runs (frames).

It draws on one line with carriage returns and is silent when the stream is not a terminal (logs, pipes,
tests) unless forced, so that captured output never fills with `\\r` noise. No tqdm dependency.

    with ProgressBar(total=size, desc="SLOWFAST_8x8_R50.pyth", unit="B", enabled=True) as bar:
        bar.update(len(chunk))
"""

from __future__ import annotations

import shutil
import sys
import time
from types import TracebackType
from typing import TextIO

_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB")


def format_bytes(n: float) -> str:
    """`n` bytes in a short human form with decimal units: 1234567 -> '1.2 MB'."""
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1000.0 or unit == _BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000.0
    raise AssertionError("unreachable")  # pragma: no cover


def _format_amount(n: float, unit: str) -> str:
    """An amount in the bar's unit: bytes get KB/MB/GB, anything else is an integer count plus the unit."""
    return format_bytes(n) if unit == "B" else f"{int(n)} {unit}"


class ProgressBar:
    """One-line progress display: percent, bar, amount done/total and rate.

    `total` None or <= 0 (unknown size) shows amount and rate only. `enabled=False` silences it entirely;
    `enabled=True` draws only when `stream` (default stderr) is a TTY, unless `force` is set.
    Redraws are throttled to `min_interval` seconds; `close()` draws the final state and ends the line.
    """

    def __init__(
        self,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "B",
        enabled: bool = True,
        force: bool = False,
        stream: TextIO | None = None,
        min_interval: float = 0.1,
        eta: bool = False,
    ) -> None:
        # A size of 0 or less (a server without Content-Length, a video whose frame count is unknown) means
        # "unknown": show amount and rate, never fail the work over a progress display.
        self.total = total if total is not None and total > 0 else None
        self.desc = desc
        self.unit = unit
        self.n = 0
        self._stream = stream if stream is not None else sys.stderr
        self._min_interval = min_interval
        self._start = time.monotonic()
        self._last_draw = float("-inf")
        self._closed = False
        self.active = bool(enabled) and (force or _is_tty(self._stream))
        self.eta = eta  # show the estimated time left (known total only)

    def update(self, n: int = 1) -> None:
        """Count `n` more units done and redraw if enough time passed since the last draw."""
        self.n += n
        if not self.active:
            return
        now = time.monotonic()
        if now - self._last_draw >= self._min_interval:
            self._draw(now)

    def render(self, now: float | None = None) -> str:
        """The line as it is drawn now (without the leading carriage return)."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        per_second = self.n / elapsed
        rate = f"{format_bytes(per_second)}/s" if self.unit == "B" else f"{per_second:.1f} {self.unit}/s"
        prefix = f"{self.desc}: " if self.desc else ""
        if not self.total:
            return f"{prefix}{_format_amount(self.n, self.unit)}  {rate}"
        frac = min(self.n / self.total, 1.0)
        if self.unit == "B":
            amounts = f"{format_bytes(self.n)}/{format_bytes(self.total)}"
        else:
            amounts = f"{self.n}/{self.total} {self.unit}"
        tail = f" {amounts}  {rate}"
        if self.eta and per_second > 0:
            left = int(round(max(0, self.total - self.n) / per_second))
            tail += f"  ETA {left // 60}:{left % 60:02d}"
        head = f"{prefix}{frac * 100:3.0f}% |"
        width = shutil.get_terminal_size((80, 24)).columns
        bar_width = max(10, min(40, width - len(head) - len(tail) - 2))
        filled = int(round(frac * bar_width))
        return f"{head}{'#' * filled}{'.' * (bar_width - filled)}|{tail}"

    def _draw(self, now: float) -> None:
        self._last_draw = now
        try:
            self._stream.write("\r" + self.render(now))
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must never break the work itself
            self.active = False

    def close(self) -> None:
        """Draw the final state and end the line (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        if self.active:
            self._draw(time.monotonic())
            try:
                self._stream.write("\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_tty(stream: TextIO) -> bool:
    """True when `stream` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
