"""THE window cutter: when windows end (`WindowClock`) and the pure cut of one window from a frame store.

Used alike by `slowfast predict` (a file), the live engine's scheduler (the ring buffer) and training clips
(frames decoded from a file), so all three take the same frames for the same end time.

- `WindowClock` / `window_end_times`: the first window ends T*tau reference frames (at 30 fps) after the
  first frame (its last grid instant is `start + (T*tau - 1)/30`); then one every `stride` seconds.
- `window_positions(timestamps, end_time, geometry)`: which stored frames the window takes, each once, and
  per pathway where it finds them (`sampling.sample_window` + `sampling.distinct_frames`).
- `cut_window(frames, timestamps, end_time, geometry)`: those frames copied out of an indexable store.

A window's span is [first grid instant, last grid instant + 1/30 s): T*tau/30 seconds (`window_span`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from slowfast_core.errors import ConfigError
from slowfast_core.spec import REFERENCE_FPS, ClipGeometry
from slowfast_core.video.sampling import distinct_frames, sample_window

#: Float slack when comparing a window's end time with frame timestamps (index / fps).
TIME_EPS = 1e-6
#: Default stride as a fraction of the window: consecutive windows overlap by half.
DEFAULT_STRIDE_FRACTION = 0.5

_STRIDE_RE = re.compile(r"^\s*(?P<value>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>f|s)?\s*$")


def parse_stride(text: str) -> float:
    """A stride in seconds from '16f' (frames at 30 fps), '0.5s' or '0.5' (seconds). Must be positive."""
    match = _STRIDE_RE.match(text)
    value = float(match.group("value")) if match else float("nan")
    if not match or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"stride {text!r} is not valid: use seconds like 0.5 or 0.5s, or 30 fps frames like 16f")
    return value / REFERENCE_FPS if match.group("unit") == "f" else value


def default_stride(geometry: ClipGeometry) -> float:
    """Half a window, in seconds (e.g. 32/30 s for 8x8 models)."""
    return geometry.window_seconds * DEFAULT_STRIDE_FRACTION


def window_lead(geometry: ClipGeometry) -> float:
    """Seconds from a window's first grid instant to its last: (T*tau - 1) / 30."""
    return (geometry.window_frames - 1) / REFERENCE_FPS


def window_span(end_time: float, geometry: ClipGeometry) -> tuple[float, float]:
    """(start, end) seconds of the window whose last grid instant is `end_time`: [first grid instant,
    last grid instant + 1/30). The one meaning of a window's start and end in every record."""
    return end_time - window_lead(geometry), span_end(end_time)


def key_frame_index(pathway_indices: list[np.ndarray]) -> int:
    """A window's key frame (the one person detection looks at): the middle of the densest pathway's frames
    (AVA labels the middle frame). An index into the window's frames."""
    dense = max(pathway_indices, key=len)
    return int(dense[len(dense) // 2])


def span_end(end_time: float) -> float:
    """The end of the span of a window whose last grid instant is `end_time` (one 1/30 s frame after it)."""
    return end_time + 1.0 / REFERENCE_FPS


class WindowClock:
    """When windows end, decided incrementally as frames arrive (a file, or a live source).

    Window k ends at `first_end + k * stride`, first_end = start_time + (T*tau - 1)/30 (the first window's
    grid starts at the first frame). A window is due once a frame at or after its end time has arrived:
    later frames cannot be nearer to any of its grid instants.
    """

    def __init__(self, *, geometry: ClipGeometry, stride: float, start_time: float) -> None:
        if not stride > 0:
            raise ConfigError(f"stride must be positive seconds, got {stride}")
        self.geometry = geometry
        self.stride = float(stride)
        self.first_end = float(start_time) + window_lead(geometry)
        self.count = 0  # windows handed out so far

    @property
    def next_end(self) -> float:
        """End time (last grid instant, seconds) of the next window."""
        return self.first_end + self.count * self.stride

    @property
    def next_start(self) -> float:
        """First grid instant of the next window: frames before the one at or before it are never needed."""
        return self.next_end - window_lead(self.geometry)

    def keep_from(self, newest: float, *, tail: bool = True) -> float:
        """The earliest instant whose frames a window may still take: the next regular window's first grid
        instant and, with `tail`, that of a window ending at the `newest` frame (`finish`'s tail window).
        The one frame-retention rule of the file windows and the live scheduler: older frames may go."""
        return min(self.next_start, newest - window_lead(self.geometry)) if tail else self.next_start

    def due(self, latest_time: float) -> list[float]:
        """End times of the windows that a frame at `latest_time` completes (and counts them as handed out)."""
        ends: list[float] = []
        while self.next_end <= latest_time + TIME_EPS:
            ends.append(self.next_end)
            self.count += 1
        return ends

    def finish(self, last_time: float, *, tail: bool = True) -> list[float]:
        """End times to add when the clip is over at `last_time`.

        No window yet (clip shorter than one window): one window at `first_end`, whose grid instants after
        the last frame repeat it. `tail`: a last window ending at the last frame when frames came after the
        last regular window, so the end of the clip is seen too.
        """
        if self.count == 0:
            self.count = 1
            return [self.first_end]
        last_end = self.next_end - self.stride
        if tail and last_time > last_end + TIME_EPS:
            self.count += 1
            return [float(last_time)]
        return []


def window_end_times(
    timestamps: Sequence[float] | np.ndarray, geometry: ClipGeometry, stride: float, *, final: bool = True,
    tail: bool = True,
) -> np.ndarray:
    """End times (seconds, last grid instant) of the windows over frames at `timestamps` (increasing).

    final=False (a live source, more frames to come): only windows whose frames have all arrived.
    final=True (a whole file): plus the short-clip window or the tail window of `WindowClock.finish`.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.ndim != 1 or len(ts) == 0:
        raise ConfigError("need at least one frame timestamp to place windows")
    clock = WindowClock(geometry=geometry, stride=stride, start_time=float(ts[0]))
    ends = clock.due(float(ts[-1]))
    if final:
        ends += clock.finish(float(ts[-1]), tail=tail)
    return np.asarray(ends, dtype=np.float64)


def window_positions(timestamps: np.ndarray, end_time: float, geometry: ClipGeometry,
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frames the window ending at `end_time` takes from a store stamped `timestamps` (increasing):
    (sorted distinct positions (K,), per pathway (T_p,) indices into those K frames)."""
    return distinct_frames(sample_window(timestamps, end_time, geometry))


@dataclass(frozen=True)
class WindowCut:
    """One window's frames copied out of a store, each once, and how each pathway picks from them."""

    frames: np.ndarray = field(repr=False)  # (K, H, W, 3) uint8 RGB
    positions: np.ndarray  # (K,) where the frames were in the store
    pathway_indices: list[np.ndarray]  # per pathway (T_p,) indices into `frames`


def cut_window(frames: Sequence[np.ndarray] | np.ndarray, timestamps: np.ndarray, end_time: float,
               geometry: ClipGeometry) -> WindowCut:
    """Cut the window ending at `end_time` out of `frames` (any indexable store, stamped `timestamps`).

    Only the frames the pathways take are copied (<= alpha*T of them).
    """
    positions, local = window_positions(timestamps, end_time, geometry)
    gathered = np.stack([frames[int(i)] for i in positions])  # (K, H, W, 3) uint8
    return WindowCut(gathered, positions, local)
