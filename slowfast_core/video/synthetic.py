"""The synthetic scene: a live-camera stand-in with stalls and drop-outs on demand, and the frame-number strip.

Every frame carries its number in black/white blocks (`encode_index` / `decode_index`), so tests and benches
can check order and loss; the scripted actor (scripted.py) draws the same strip over its own scenes.
"""

from __future__ import annotations

import math
import threading
import time

import cv2
import numpy as np

from slowfast_core.errors import SourceError
from slowfast_core.video.sources import MAX_FPS, FrameSource, Pacer, SourceFrame, SourceInfo


class SyntheticSource(FrameSource):
    """A live-camera stand-in: a moving scene at a chosen size and rate, for tests and machines without a camera.

    It can be told to `stall(seconds)` (reads block, like a frozen camera), to `drop_out(seconds)` (reads and
    re-opens fail, like an unplugged camera) and comes back after the time given or on `resume()`.
    Each frame carries its number in a strip of black/white blocks (`frame_number`), so tests can check order.
    `frames` ends the stream after that many frames (an end-of-file event); paced=False delivers at once.
    """

    STRIP_BITS = 24
    BLOCK = 8
    MAX_SIZE = (7680, 4320)  # 8K: a frame is 100 MB; beyond this a scene would not fit in memory

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, *, paced: bool = True,
                 frames: int | None = None, seed: int = 0) -> None:
        super().__init__()
        if width < 2 * self.STRIP_BITS or height < 16:
            raise SourceError(f"synthetic size {width}x{height} is too small: use at least {2 * self.STRIP_BITS}x16")
        if width > self.MAX_SIZE[0] or height > self.MAX_SIZE[1]:
            raise SourceError(f"synthetic size {width}x{height} is too large: use at most "
                              f"{self.MAX_SIZE[0]}x{self.MAX_SIZE[1]}")
        if not 0 < fps <= MAX_FPS:
            raise SourceError(f"synthetic fps {fps} is out of range: use 1 to {MAX_FPS:g}")
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.block = max(2, min(self.BLOCK, self.width // self.STRIP_BITS, self.height // 4))
        self.paced = paced
        self.live = paced
        self.total = frames
        self._rng = np.random.default_rng(seed)
        self._background = self._make_background()
        self._lock = threading.Lock()
        self._stall_until = 0.0
        self._dropout_until = 0.0
        self._resume = threading.Event()
        self._pacer: Pacer | None = None
        self._number = 0

    @property
    def name(self) -> str:
        return f"synthetic {self.width}x{self.height}@{self.fps:g}"

    def _make_background(self) -> np.ndarray:
        """A fixed colour gradient with some noise, so the scene has texture."""
        y = np.linspace(0, 1, self.height, dtype=np.float32)[:, None]
        x = np.linspace(0, 1, self.width, dtype=np.float32)[None, :]
        bg = np.stack([80 + 100 * x + 0 * y, 60 + 120 * y + 0 * x, 120 + 60 * (1 - x) * y], axis=-1)
        bg += self._rng.normal(0, 6, bg.shape).astype(np.float32)
        return np.clip(bg, 0, 255).astype(np.uint8)

    # --- control, from any thread ---------------------------------------------------------------------------
    def stall(self, seconds: float | None = None) -> None:
        """Stop delivering for `seconds` (None: until `resume()`); reads block meanwhile."""
        with self._lock:
            self._stall_until = math.inf if seconds is None else time.monotonic() + seconds
            self._resume.clear()

    def drop_out(self, seconds: float | None = None) -> None:
        """Behave like an unplugged camera for `seconds` (None: until `resume()`): reads and opens fail."""
        with self._lock:
            self._dropout_until = math.inf if seconds is None else time.monotonic() + seconds
            self._resume.clear()

    def resume(self) -> None:
        """End a stall or drop-out now."""
        with self._lock:
            self._stall_until = self._dropout_until = 0.0
            self._resume.set()

    def _dropped_out(self) -> bool:
        with self._lock:
            return time.monotonic() < self._dropout_until

    # --- FrameSource ------------------------------------------------------------------------------------------
    def _open(self) -> SourceInfo:
        if self._dropped_out():
            raise SourceError(f"{self.name} is unavailable (simulated drop-out): it will come back")
        self._pacer = Pacer(self.fps, first_frame=self._number) if self.paced else None
        return SourceInfo(self.width, self.height, self.fps)

    def _wait_stall(self) -> bool:
        """Block while stalled; False if interrupted meanwhile. A stall restarts the pacing schedule."""
        stalled = False
        while True:
            with self._lock:
                remaining = self._stall_until - time.monotonic()
            if remaining <= 0:
                break
            stalled = True
            if self._interrupt.wait(min(remaining, 0.05)) or self._interrupt.is_set():
                return False
        if stalled and self._pacer is not None:
            self._pacer.restart()
        return True

    def _read(self) -> SourceFrame | None:
        if self._interrupt.is_set():
            return None
        if self._dropped_out():
            raise SourceError(f"{self.name} stopped delivering frames (simulated drop-out)")
        if not self._wait_stall():
            return None
        if self.total is not None and self._number >= self.total:
            return None
        due, skipped = None, 0
        if self._pacer is not None:
            timing = self._pacer.wait_next(self._interrupt)
            if timing is None:
                return None
            number, due, skipped = timing
            if self.total is not None and number >= self.total:
                self._number = self.total
                return None
            self._number = number
        if self._dropped_out():
            raise SourceError(f"{self.name} stopped delivering frames (simulated drop-out)")
        image = self.render(self._number)
        media_time = self._number / self.fps
        self._number += 1
        return SourceFrame(image, media_time=media_time, due=due, skipped=skipped)

    def render(self, number: int) -> np.ndarray:
        """Frame `number` of the scene: (H, W, 3) BGR uint8 with a ball moving on a circle and the index strip."""
        frame = self._background.copy()
        t = number / self.fps
        cx = int(self.width / 2 + self.width / 3 * math.cos(2 * math.pi * 0.25 * t))
        cy = int(self.height / 2 + self.height / 3 * math.sin(2 * math.pi * 0.25 * t))
        radius = max(4, min(self.width, self.height) // 10)
        cv2.circle(frame, (cx, cy), radius, (40, 200, 255), thickness=-1)
        side = min(self.width, self.height) // 6
        x0 = int((number * 4) % max(1, self.width - side))
        cv2.rectangle(frame, (x0, self.height - side - 2), (x0 + side, self.height - 2), (255, 80, 40), -1)
        encode_index(frame, number, bits=self.STRIP_BITS, block=self.block)
        return frame

    def frame_number(self, frame: np.ndarray) -> int:
        """The number this scene wrote into `frame` (full size, BGR or RGB)."""
        return decode_index(frame, bits=self.STRIP_BITS, block=self.block)


def encode_index(frame: np.ndarray, number: int, *, bits: int = 24, block: int = 8) -> None:
    """Write `number` into the frame's top-left corner as `bits` black/white blocks of `block` pixels (in place)."""
    for bit in range(bits):
        value = 255 if (number >> bit) & 1 else 0
        frame[0:block, bit * block : (bit + 1) * block] = value


def decode_index(frame: np.ndarray, *, bits: int = 24, block: int = 8) -> int:
    """Read back a number written by `encode_index` from a full-size frame (samples each block's centre)."""
    number = 0
    for bit in range(bits):
        if frame[block // 2, bit * block + block // 2].mean() > 127:
            number |= 1 << bit
    return number
