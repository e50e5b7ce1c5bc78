"""Cameras: the OpenCV camera source, and discovery for menus and start-up.

`CameraSource` opens a capture device by index or path; `list_cameras` opens each device to report what it
delivers (`slowfast run --list-cameras`). For menus, `discover_cameras` gives the names people know their
cameras by and the spec that opens each. No Qt here: the window passes its own lister (Qt Multimedia knows the
cameras' product names); without one, or when it fails, the /dev/video* nodes are listed by path *without
opening them* (opening can take seconds per device).
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.errors import SourceError
from slowfast_core.files import is_character_device, not_regular
from slowfast_core.video.decode import usable_fps
from slowfast_core.video.sources import FrameSource, SourceFrame, SourceInfo, quiet_opencv

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraChoice:
    """A camera for a Source menu: the name people know it by and the spec that opens it."""

    name: str
    spec: str


#: a lister of (device id, description) pairs in the system's order, e.g. Qt Multimedia's video inputs
NamedLister = Callable[[], "list[tuple[str, str]]"]


def camera_nodes() -> list[CameraChoice]:
    """The /dev/video* nodes by path (Linux), not opened; [] elsewhere."""
    if not sys.platform.startswith("linux"):
        return []
    return [CameraChoice(f"Camera {p}", f"camera:{p}") for p in sorted(glob.glob("/dev/video*"),
                                                                    key=lambda p: (len(p), p))]


def discover_cameras(named: NamedLister | None = None) -> list[CameraChoice]:
    """The cameras here: from `named` when given and it works (ids that are /dev/video paths are opened by
    path, others by their position), else `camera_nodes()`."""
    if named is not None:
        try:
            devices = named()
        except Exception as exc:  # noqa: BLE001 - ImportError, missing system libraries: fall back to the nodes
            logger.info("camera names unavailable (%s): listing /dev/video* instead", exc)
        else:
            out = []
            for i, (ident, description) in enumerate(devices):
                spec = f"camera:{ident}" if ident.startswith("/dev/video") else f"camera:{i}"
                out.append(CameraChoice(description or ident or f"Camera {i}", spec))
            return out
    return camera_nodes()


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
        with quiet_opencv():
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
