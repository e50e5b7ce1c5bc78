"""Writing a video file that people watch (annotated predictions, exported sessions): H.264 when possible.

`VideoFileWriter` takes (H, W, 3) BGR frames at a fixed rate and writes them to a temporary name beside the
target (`name.part.mp4`), renamed into place only by `close()`; `abort()` (or an exception inside its `with`
block) deletes it, so a failed or cancelled export never leaves a half file under the real name.

Encoders, tried in order until one opens: PyAV's `libx264`, then PyAV's `h264` (whatever H.264 encoder its
FFmpeg has), then OpenCV's `avc1` (only where OpenCV's FFmpeg was built with an H.264 encoder, which the
opencv-python wheels are not), then OpenCV's `mp4v` (MPEG-4 Part 2: plays in VLC and browsers' players less
often, but always there). H.264 with yuv420p needs an even width and height, so odd sizes go to mp4v.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from slowfast_core.errors import SlowFastError
from slowfast_core.video import decode as _decode  # noqa: F401 - quiets FFmpeg's own logging before first use

logger = logging.getLogger(__name__)

#: Tried in this order; (backend, codec).
ENCODERS: tuple[tuple[str, str], ...] = (("pyav", "libx264"), ("pyav", "h264"), ("opencv", "avc1"),
                                         ("opencv", "mp4v"))
#: Containers the writer accepts (by extension); FFmpeg picks the muxer from it.
CONTAINERS = (".mp4", ".mkv", ".mov", ".avi", ".m4v")
X264_OPTIONS = {"crf": "20", "preset": "veryfast"}  # visually clean, ~2x faster than the default preset


class VideoWriteError(SlowFastError):
    """The output video cannot be created or written (bad folder, full disk, no encoder)."""


def part_path(path: Path) -> Path:
    """The temporary name a video is written to before it is renamed to `path` (same extension: the muxer)."""
    return path.with_name(path.stem + ".part" + path.suffix)


def check_output_path(path: str | os.PathLike[str], *, source: str | os.PathLike[str] | None = None) -> Path:
    """`path` as a Path after checking it can be written: a known extension, an existing folder, not the
    `source` video itself. Raises VideoWriteError (one line) otherwise; nothing is created."""
    out = Path(path).expanduser()
    if out.suffix.lower() not in CONTAINERS:
        raise VideoWriteError(f"output video {out} needs one of the extensions {', '.join(CONTAINERS)} (e.g. "
                              f"{out.with_suffix('.mp4').name})")
    if out.is_dir():
        raise VideoWriteError(f"output video {out} is a folder: give a file name such as {out / 'annotated.mp4'}")
    if not out.parent.is_dir():
        raise VideoWriteError(f"cannot write {out}: the folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise VideoWriteError(f"cannot write {out}: the folder {out.parent} is not writable")
    if source is not None and out.exists() and out.resolve() == Path(source).expanduser().resolve():
        raise VideoWriteError(f"output video {out} is the input video: choose another file name")
    return out


class VideoFileWriter:
    """A video file at `fps` with frames of `width` x `height`, written through the best available encoder.

    encoders: the (backend, codec) pairs to try, default `ENCODERS`. `encoder` names the one in use, e.g.
    "libx264 (PyAV)". Use as a context manager: a clean exit closes and renames, an exception aborts.
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: float, width: int, height: int,
                 encoders: tuple[tuple[str, str], ...] = ENCODERS) -> None:
        if not (fps > 0 and np.isfinite(fps)):
            raise VideoWriteError(f"cannot write {path} at {fps} fps: the frame rate must be positive")
        if width < 2 or height < 2:
            raise VideoWriteError(f"cannot write a {width}x{height} video to {path}")
        self.path = Path(path)
        self.tmp = part_path(self.path)
        self.fps, self.width, self.height = float(fps), int(width), int(height)
        self.frames = 0
        self.encoder = ""
        self._av: tuple[Any, Any] | None = None  # (container, stream)
        self._cv: cv2.VideoWriter | None = None
        self._closed = False
        tried = []
        for backend, codec in encoders:
            if self._open(backend, codec):
                self.encoder = f"{codec} ({'PyAV' if backend == 'pyav' else 'OpenCV'})"
                break
            tried.append(codec)
        else:
            self.tmp.unlink(missing_ok=True)
            raise VideoWriteError(f"cannot create the video {self.path} (tried {', '.join(tried)}): check that "
                                  "the folder is writable and the disk is not full")
        logger.info("writing %s with %s", self.path, self.encoder)

    # --- opening ----------------------------------------------------------------------------------------------
    def _open(self, backend: str, codec: str) -> bool:
        self.tmp.unlink(missing_ok=True)
        if backend == "pyav":
            return self._open_av(codec)
        return self._open_cv(codec)

    def _open_av(self, codec: str) -> bool:
        if self.width % 2 or self.height % 2:
            return False  # yuv420p halves both: H.264 encoders refuse odd sizes
        try:
            import av

            av.codec.Codec(codec, "w")  # raises when this FFmpeg has no such encoder
        except Exception:  # noqa: BLE001 - PyAV missing, or no such encoder
            return False
        container = None
        try:
            container = av.open(str(self.tmp), "w")
            stream = container.add_stream(codec, rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            if codec == "libx264":
                stream.options = dict(X264_OPTIONS)
            stream.codec_context.open()  # fails here, not at the first frame, when the encoder cannot run
        except Exception as exc:  # noqa: BLE001 - PyAV/FFmpeg errors of every kind: try the next encoder
            logger.info("PyAV %s encoder unavailable for %s: %s", codec, self.path, exc)
            if container is not None:
                try:
                    container.close()
                except Exception:  # noqa: BLE001
                    pass
            return False
        self._av = (container, stream)
        return True

    def _open_cv(self, codec: str) -> bool:
        if len(codec) != 4:
            return False  # not a FourCC
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a missing encoder is expected
        try:
            writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*codec), self.fps,
                                     (self.width, self.height))
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not writer.isOpened():
            writer.release()
            return False
        self._cv = writer
        return True

    # --- writing ----------------------------------------------------------------------------------------------
    def write(self, bgr: np.ndarray) -> None:
        """Append one (H, W, 3) BGR uint8 frame of the writer's size."""
        if self._closed:
            raise VideoWriteError(f"{self.path} is already closed")
        if bgr.shape != (self.height, self.width, 3) or bgr.dtype != np.uint8:
            raise ValueError(f"frame {bgr.shape} {bgr.dtype} does not fit a {self.width}x{self.height} BGR video")
        try:
            if self._av is not None:
                import av

                container, stream = self._av
                # OpenCV's BT.601 conversion: what OpenCV's (and FFmpeg's) decoders invert exactly; FFmpeg's
                # own bgr24 -> yuv420p path comes back 3-5 levels darker
                yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # (H * 3/2, W) uint8: Y, then U, V planes
                for packet in stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
                    container.mux(packet)
            else:
                assert self._cv is not None
                self._cv.write(bgr)
        except OSError as exc:
            raise VideoWriteError(f"cannot write {self.tmp} ({exc.strerror or exc}): is the disk full?") from None
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and rename it to `path`; returns `path`. VideoWriteError when nothing came out."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._finish()
        except OSError as exc:
            self.tmp.unlink(missing_ok=True)
            raise VideoWriteError(f"cannot finish {self.tmp} ({exc.strerror or exc}): is the disk full?") from None
        if self.frames == 0 or not self.tmp.is_file() or self.tmp.stat().st_size == 0:
            self.tmp.unlink(missing_ok=True)
            raise VideoWriteError(f"no video was written to {self.path} ({self.frames} frames)")
        fd = os.open(self.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the temporary file; `path` is left as it was."""
        if not self._closed:
            self._closed = True
            try:
                self._finish()
            except Exception:  # noqa: BLE001 - the file is deleted anyway
                pass
        self.tmp.unlink(missing_ok=True)

    def _finish(self) -> None:
        if self._av is not None:
            container, stream = self._av
            self._av = None
            try:
                for packet in stream.encode(None):  # flush the encoder's delayed frames
                    container.mux(packet)
            finally:
                container.close()
        if self._cv is not None:
            self._cv.release()
            self._cv = None

    def __enter__(self) -> "VideoFileWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
