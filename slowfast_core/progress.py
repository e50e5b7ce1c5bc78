"""Progress bars on stderr, for downloads (bytes), video runs (frames), folders (videos) and training (steps).

Drawn by tqdm, the bar Python users know (percent, bar, done/total, rate, elapsed and ETA; terminal width
followed), behind one small class so that every command shows it alike: silent when the stream is not a
terminal (logs, pipes, tests) unless forced, so captured output never fills with `\\r` noise; a size of 0 or
less means "unknown" (amount and rate only); and a closed or broken stderr never breaks the work itself.

    with ProgressBar(total=size, desc="SLOWFAST_8x8_R50.pyth", unit="B", enabled=True) as bar:
        bar.update(len(chunk))
"""

from __future__ import annotations

import sys
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


class ProgressBar:
    """One-line progress display (tqdm): percent, bar, amount done/total, rate, and the time left.

    `total` None or <= 0 (unknown size) shows amount and rate only. `enabled=False` silences it entirely;
    `enabled=True` draws only when `stream` (default stderr) is a TTY, unless `force` is set. Redraws are
    throttled to `min_interval` seconds; `close()` draws the final state and ends the line. `eta` is kept for
    the callers that asked for it: tqdm always shows the time left when the total is known.
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
        self.eta = eta
        self._stream = stream if stream is not None else sys.stderr
        self._closed = False
        self.active = bool(enabled) and (force or _is_tty(self._stream))
        self._bar = None
        if self.active:
            from tqdm import tqdm

            byte = unit == "B"
            self._bar = tqdm(total=self.total, desc=desc or None, unit=unit,
                             unit_scale=byte, unit_divisor=1000, file=self._stream, mininterval=min_interval,
                             miniters=1, dynamic_ncols=True, leave=True, ascii=" #")

    def update(self, n: int = 1) -> None:
        """Count `n` more units done and redraw if enough time passed since the last draw."""
        self.n += n
        if self._bar is None:
            return
        try:
            self._bar.update(n)
        except (OSError, ValueError):  # a closed or broken stderr must never break the work itself
            self._disable()

    def _disable(self) -> None:
        self.active = False
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.disable = True

    def close(self) -> None:
        """Draw the final state and end the line (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            try:
                self._bar.close()
            except (OSError, ValueError):
                self._disable()

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
