"""Frame sources: a camera, a video file, or a synthetic scene, behind one small interface.

A `FrameSource` is opened, read frame by frame (BGR uint8, as OpenCV decodes it) and closed. Live sources
(cameras, paced files, the synthetic scene) deliver frames at their own rate and skip frames when the reader
falls behind, as a camera does; an unpaced file delivers every frame as fast as it is read (offline analysis).
Open and read failures raise `SourceError` with a one-line message; the end of a file is `read() -> None`.

`parse_source("camera:0" | "camera:/dev/video0" | "file:PATH" | "synthetic[:WxH@FPS]")` builds one from the
command line's `--source` text.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import math
import os
import re
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.errors import SourceError
from slowfast_core.files import is_character_device, not_regular
from slowfast_core.video.decode import open_capture, usable_fps

logger = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
MAX_FPS = 240.0


@dataclass(frozen=True)
class SourceInfo:
    """What an opened source delivers: frame size and the rate it claims (or the file's fps)."""

    width: int
    height: int
    fps: float


@dataclass(frozen=True)
class SourceFrame:
    """One frame read from a source.

    media_time: seconds on the source's own clock (frame number / fps for files and the synthetic scene,
    None for cameras). due: monotonic time the frame was scheduled for (paced sources), None otherwise.
    skipped: frames the source dropped right before this one because the reader was behind.
    """

    image: np.ndarray  # (H, W, 3) BGR uint8
    media_time: float | None = None
    due: float | None = None
    skipped: int = 0


class FrameSource(ABC):
    """The interface every source implements. Not thread-safe except `interrupt()`."""

    #: True when frames arrive at the source's rate (camera, paced file, synthetic); False: as fast as read
    live: bool = True

    def __init__(self) -> None:
        self._interrupt = threading.Event()
        self._info: SourceInfo | None = None

    @property
    @abstractmethod
    def name(self) -> str:
        """Short description for status bars and logs, e.g. 'camera:0', 'file:clip.mp4', 'synthetic 640x480@30'."""

    @abstractmethod
    def _open(self) -> SourceInfo:
        """Open the underlying device or file; raise SourceError when that fails."""

    @abstractmethod
    def _read(self) -> SourceFrame | None:
        """Next frame, or None at the end of a file (or after `interrupt()`)."""

    def _close(self) -> None:
        """Release the underlying device or file (default: nothing to release)."""

    def open(self) -> SourceInfo:
        """Open (or reopen) the source and report the size and rate it actually delivers."""
        self._interrupt.clear()
        self._info = self._open()
        return self._info

    def read(self) -> SourceFrame | None:
        """The next frame; None at end of file or when interrupted. Raises SourceError when the device fails."""
        if self._info is None:
            raise SourceError(f"{self.name} is not open: call open() first")
        return self._read()

    def close(self) -> None:
        """Release the source; safe to call twice. It can be opened again."""
        self._info = None
        self._close()

    def interrupt(self) -> None:
        """Make a pending or future `read()` return None promptly (any thread); cleared by `open()`."""
        self._interrupt.set()

    @property
    def info(self) -> SourceInfo | None:
        """Size and rate after `open()`, None while closed."""
        return self._info

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def frames(self) -> Iterator[SourceFrame]:
        """Every frame until the end (for offline use): open, read until None, close."""
        with self:
            while (frame := self.read()) is not None:
                yield frame


class _Pacer:
    """Delivers frame numbers at a fixed rate; when the reader is more than a frame behind, skips frames.

    Skipping (instead of delivering a backlog) is what a camera does: the newest frame replaces unread ones.
    The schedule starts at the first read, not at open: a source opened before a model was built has not
    been "dropping" frames meanwhile.
    """

    def __init__(self, fps: float, first_frame: int = 0) -> None:
        self.period = 1.0 / fps
        self.start: float | None = None
        self.next_frame = first_frame

    def restart(self) -> None:
        """Start the schedule again at the next read (after a stall: a stalled camera produced nothing to skip)."""
        self.start = None

    def wait_next(self, interrupt: threading.Event) -> tuple[int, float, int] | None:
        """Block until the next frame is due: (frame number, due time, frames skipped); None if interrupted."""
        now = time.monotonic()
        if self.start is None:
            self.start = now - self.next_frame * self.period
        behind = int(math.floor((now - self.start) / self.period)) - self.next_frame
        skipped = max(0, behind)  # frames whose time has fully passed: the newest one is delivered now
        number = self.next_frame + skipped
        due = self.start + number * self.period
        if due > now and interrupt.wait(due - now):
            return None
        if interrupt.is_set():
            return None
        self.next_frame = number + 1
        return number, due, skipped


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own stderr warnings (e.g. 'can't open camera by index'): we raise clear errors instead."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


class CameraSource(FrameSource):
    """An OpenCV capture device, by index (0) or path (/dev/video0). Asks for a size and rate, reports what it got."""

    def __init__(self, device: int | str = 0, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> None:
        super().__init__()
        self.device = device
        self.requested = (width, height, fps)
        self._cap: cv2.VideoCapture | None = None
        self._pending: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"camera:{self.device}"

    def _open(self) -> SourceInfo:
        if isinstance(self.device, str) and not Path(self.device).exists():
            raise SourceError(f"camera {self.device} does not exist: check the device path or use --source synthetic")
        if isinstance(self.device, str) and os.name == "posix" and not is_character_device(self.device):
            kind = not_regular(self.device) or "a regular file"
            raise SourceError(f"camera {self.device} is {kind}, not a camera device: use camera:N or "
                              "camera:/dev/videoN (a video file: --source file:PATH)")
        with _quiet_opencv():
            cap = cv2.VideoCapture(self.device)
            if not cap.isOpened():
                cap.release()
                raise SourceError(
                    f"cannot open camera {self.device}: no such camera or it is busy; "
                    "connect one or use --source synthetic"
                )
            width, height, fps = self.requested
            if width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            if height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if fps:
                cap.set(cv2.CAP_PROP_FPS, fps)
            ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"camera {self.device} opened but delivers no frames: check it is not used elsewhere")
        self._cap, self._pending = cap, frame
        info = SourceInfo(frame.shape[1], frame.shape[0], usable_fps(cap.get(cv2.CAP_PROP_FPS), self.name)[0])
        if width and height and (info.width, info.height) != (width, height):
            logger.info("%s: asked for %dx%d, got %dx%d", self.name, width, height, info.width, info.height)
        return info

    def _read(self) -> SourceFrame | None:
        if self._interrupt.is_set() or self._cap is None:
            return None
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return SourceFrame(frame)
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"camera {self.device} stopped delivering frames: check the cable or the driver")
        return SourceFrame(frame)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._pending = None, None


@dataclass(frozen=True)
class CameraInfo:
    """A camera that could be opened: how to name it in `--source`, and its default size and rate."""

    device: int | str
    width: int
    height: int
    fps: float

    @property
    def spec(self) -> str:
        """The `--source` text for this camera."""
        return f"camera:{self.device}"


def list_cameras(max_index: int = 4) -> list[CameraInfo]:
    """Cameras that open and deliver a frame. On Linux only existing /dev/video* nodes are tried; [] if none."""
    if sys.platform.startswith("linux"):
        candidates: list[int | str] = sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))
    else:
        candidates = list(range(max_index))
    found = []
    for device in candidates:
        source = CameraSource(device)
        try:
            info = source.open()
        except SourceError:
            continue
        finally:
            source.close()
        found.append(CameraInfo(device, info.width, info.height, info.fps))
    return found


class FileSource(FrameSource):
    """Any OpenCV-readable video file.

    paced=True: delivered at the file's fps like a live camera (frames skipped when the reader is behind);
    paced=False: every frame, as fast as read (offline analysis). loop=True starts again at the end, with
    media time and frame numbers continuing.
    """

    def __init__(self, path: str | Path, *, paced: bool = True, loop: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.paced = paced
        self.loop = loop
        self.live = paced
        self._cap: cv2.VideoCapture | None = None
        self._pacer: _Pacer | None = None
        self._number = 0  # frames delivered or skipped since open (media frame number)
        self._in_file = 0  # position inside the current pass through the file
        self._fps = DEFAULT_FPS
        self._pending: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"file:{self.path}"

    def _open_capture(self) -> cv2.VideoCapture:
        with _quiet_opencv():
            return open_capture(self.path)  # VideoError (a SourceError) for missing, empty, not-a-video files

    def _open(self) -> SourceInfo:
        cap = self._open_capture()
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"{self.path} has no readable frames: check that it is a complete video file")
        self._fps, _assumed = usable_fps(cap.get(cv2.CAP_PROP_FPS), self.path)  # as `slowfast predict` does
        self._cap, self._pending = cap, frame
        self._number, self._in_file = 0, 0
        self._pacer = _Pacer(self._fps) if self.paced else None
        return SourceInfo(frame.shape[1], frame.shape[0], self._fps)

    def _next_decoded(self, *, decode: bool = True) -> np.ndarray | None:
        """The next frame of the file (restarting it when looping); None at its end. decode=False: skip it."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            self._in_file += 1
            return frame
        assert self._cap is not None
        for _attempt in range(2):
            if decode:
                ok, frame = self._cap.read()
            else:
                ok, frame = self._cap.grab(), None
            if ok:
                self._in_file += 1
                return frame if decode else np.empty(0, np.uint8)
            if not self.loop or self._in_file == 0:
                return None
            self._cap.release()
            self._cap = self._open_capture()
            self._in_file = 0
        return None

    def _read(self) -> SourceFrame | None:
        if self._interrupt.is_set() or self._cap is None:
            return None
        due, skipped = None, 0
        if self._pacer is not None:
            timing = self._pacer.wait_next(self._interrupt)
            if timing is None:
                return None
            number, due, skipped = timing
            for _ in range(number - self._number):
                if self._next_decoded(decode=False) is None:
                    return None
        frame = self._next_decoded()
        if frame is None:
            return None
        media_time = (self._number + skipped) / self._fps
        self._number += skipped + 1
        return SourceFrame(frame, media_time=media_time, due=due, skipped=skipped)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._pending = None, None


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
        self._pacer: _Pacer | None = None
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
        self._pacer = _Pacer(self.fps, first_frame=self._number) if self.paced else None
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


_SYNTHETIC = re.compile(r"^synthetic(?::(?:(\d+)x(\d+))?(?:@(\d+(?:\.\d+)?))?)?$")


def parse_source(spec: str, *, realtime: bool = True, loop: bool = False) -> FrameSource:
    """A source from its `--source` text: camera:N, camera:/dev/videoN, file:PATH, synthetic[:WxH][@FPS].

    realtime: files are paced at their fps like a camera (else read as fast as possible, every frame);
    loop: files start again at their end. Cameras and the synthetic scene are always live.
    """
    text = spec.strip()
    if text.startswith("synthetic:actions"):
        from slowfast_core.video.scripted import parse_actions_source  # it builds on SyntheticSource

        scripted = parse_actions_source(text, realtime=realtime)
        if scripted is not None:
            return scripted
    if text.startswith("camera:"):
        device = text[len("camera:"):]
        if device.isdigit():
            return CameraSource(int(device))
        if device:
            return CameraSource(device)
    elif text.startswith("file:") and len(text) > len("file:"):
        return FileSource(text[len("file:"):], paced=realtime, loop=loop)
    elif (m := _SYNTHETIC.match(text)) is not None:
        width = int(m.group(1)) if m.group(1) else 640
        height = int(m.group(2)) if m.group(2) else 480
        fps = float(m.group(3)) if m.group(3) else 30.0
        return SyntheticSource(width, height, fps)
    raise SourceError(
        f"unknown source {spec!r}: use camera:N, camera:/dev/videoN, file:PATH, synthetic[:WxH@FPS] or "
        "synthetic:actions[:A-B]"
    )
