"""Windows of real video for int8 calibration and for the agreement guard, cut the way predict and live do.

Where the video comes from: the clips (or folders of clips) the user names, else the videos of the user's
recorded sessions (`sessions.store.sessions_videos`: the caller asks; this module reads no sessions). A `CalibrationPlan` fixes, before anything heavy runs, which windows
are used: one stride for all videos (chosen so the videos give about `windows` calibration windows plus a
third as many held-out ones), and, in time order over all videos, every `HOLD_OUT_EVERY`-th window is held
out for the guard; the calibration never sees those. (They overlap their neighbours in time, as consecutive
live windows do; every window is cut by `video.file_windows.iter_windows`, the one window cutter.)

The plan is computed from the containers' frame counts and frame rates (the timestamps a `VideoReader`
gives are `index / fps`), so an unreadable file or too little video fails at once with one line, and the
conversion child and the guard, which decode the videos again, cut exactly the same windows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from slowfast_core.errors import ConfigError, SlowFastError
from slowfast_core.spec import REFERENCE_FPS, ClipGeometry, Preprocessing

#: file name endings taken from a folder given to --calibrate (a file named directly is tried whatever its name)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
#: calibration windows by default: "a few hundred" (NNCF's own default subset is 300)
DEFAULT_WINDOWS = 300
#: every HOLD_OUT_EVERY-th window (in time order) is held out for the guard: a quarter of them
HOLD_OUT_EVERY = 4
#: fewer windows than these and the calibration (ranges of a handful of clips) or the guard (a 99% test on a
#: few windows) says little: refuse, and say how much video there is
MIN_CALIBRATION = 60
MIN_HELD_OUT = 20

Part = Literal["calibration", "held-out"]


class CalibrationError(SlowFastError):
    """The calibration video cannot be used (none found, unreadable, too short); the message says which and why."""


@dataclass(frozen=True)
class CalibrationVideo:
    """One video of the plan: its path and what identifies its content (size, modification time), frame count
    and rate as the container claims them (the rate made usable, as the decoder does)."""

    path: str
    size: int
    mtime_ns: int
    frames: int
    fps: float


@dataclass(frozen=True)
class CalibrationPlan:
    """Which windows calibrate and which are held out: the videos, one stride (seconds), and the counts."""

    videos: tuple[CalibrationVideo, ...]
    stride: float
    calibration: int  # windows used for calibration (at most the `windows` asked for)
    held_out: int  # windows the guard compares on

    def identity(self, geometry: ClipGeometry, prep: Preprocessing) -> str:
        """A short digest of everything that decides the calibration windows' content (part of the cache key)."""
        text = json.dumps({"plan": self.to_json(), "geometry": asdict(geometry), "prep": asdict(prep)},
                          sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def to_json(self) -> dict[str, object]:
        return {"videos": [asdict(v) for v in self.videos], "stride": self.stride,
                "calibration": self.calibration, "held_out": self.held_out}

    @classmethod
    def from_json(cls, data: dict) -> "CalibrationPlan":
        return cls(tuple(CalibrationVideo(**v) for v in data["videos"]), float(data["stride"]),
                   int(data["calibration"]), int(data["held_out"]))


def find_videos(paths: Sequence[str | Path]) -> list[Path]:
    """The video files named by `paths`: a file is taken as it is, a folder gives the videos inside it (and its
    subfolders, by name ending, sorted). Nothing found: CalibrationError (one line)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            if not inside:
                raise CalibrationError(f"no video found in {path} (looked for {', '.join(VIDEO_SUFFIXES)}): "
                                       "point --calibrate at video files or a folder holding some")
            found += inside
        elif path.exists():
            found.append(path)
        else:
            raise CalibrationError(f"calibration video {path} does not exist: check the path")
    if not found:
        raise CalibrationError("no calibration video given: pass --calibrate VIDEO_OR_FOLDER (or record a session)")
    return list(dict.fromkeys(found))  # a file named twice counts once


def _describe(path: Path) -> CalibrationVideo:
    """Open `path` as the decoder does (VideoError, one line, for anything unreadable) and note what it holds."""
    from slowfast_core.video.decode import VideoReader

    with VideoReader(path) as video:
        info = video.info
        if info.frame_count is None:  # the container does not say: count by decoding (rare: raw streams)
            frames = sum(1 for _ in video.frames())
        else:
            frames = info.frame_count
    stat = path.stat()
    return CalibrationVideo(str(path.resolve()), stat.st_size, stat.st_mtime_ns, int(frames), float(info.fps))


def _window_ends(video: CalibrationVideo, geometry: ClipGeometry, stride: float) -> np.ndarray:
    """End times of the windows `iter_windows(..., tail=False)` cuts from this video at `stride`."""
    from slowfast_core.video.windows import window_end_times

    timestamps = np.arange(video.frames, dtype=np.float64) / video.fps  # what VideoReader yields
    return window_end_times(timestamps, geometry, stride, final=True, tail=False)


def _split(total: int) -> tuple[int, int]:
    """(calibration, held-out) counts among `total` windows in order: every HOLD_OUT_EVERY-th is held out."""
    held = total // HOLD_OUT_EVERY
    return total - held, held


def plan_calibration(videos: Sequence[Path], geometry: ClipGeometry, *, windows: int = DEFAULT_WINDOWS
                     ) -> CalibrationPlan:
    """Decide the windows: a stride giving about `windows` calibration windows (never under one 30 fps frame),
    and the held-out share. Too little video: CalibrationError saying how many windows it gives."""
    if windows < MIN_CALIBRATION:
        raise ConfigError(f"--windows {windows} is too few: calibrating needs at least {MIN_CALIBRATION} windows")
    described = tuple(_describe(Path(v)) for v in videos)
    lead = (geometry.window_frames - 1) / REFERENCE_FPS
    room = sum(max(v.frames / v.fps - lead, 0.0) for v in described)  # seconds where a window can end
    wanted = windows + -(-windows // (HOLD_OUT_EVERY - 1))  # calibration + held out
    stride = max(1.0 / REFERENCE_FPS, room / max(wanted, 1))
    total = sum(len(_window_ends(v, geometry, stride)) for v in described)
    while total < wanted and stride > 1.0 / REFERENCE_FPS:  # each video's first window comes at no stride
        stride = max(1.0 / REFERENCE_FPS, stride * 0.97 * total / wanted)
        total = sum(len(_window_ends(v, geometry, stride)) for v in described)
    calibration, held_out = _split(total)
    if calibration < MIN_CALIBRATION or held_out < MIN_HELD_OUT:
        seconds = sum(v.frames / v.fps for v in described)
        raise CalibrationError(
            f"too few windows: {len(described)} video(s), {seconds:.1f} s in all, give {total} windows of "
            f"{geometry.window_seconds:.2f} s (needs {MIN_CALIBRATION + MIN_HELD_OUT}: {MIN_CALIBRATION} to calibrate, "
            f"{MIN_HELD_OUT} held out): add more or longer video")
    return CalibrationPlan(described, stride, min(calibration, windows), held_out)


def iter_plan_windows(plan: CalibrationPlan, geometry: ClipGeometry, prep: Preprocessing, part: Part
                      ) -> Iterator[list[torch.Tensor]]:
    """The model inputs [(1, 3, T_p, H, W) float32] of the plan's calibration or held-out windows, in order.

    Videos are decoded one after the other (memory: one video's next window of frames at a time).
    """
    from slowfast_core.video.file_windows import iter_windows
    from slowfast_core.video.decode import VideoReader

    limit = plan.calibration if part == "calibration" else plan.held_out
    number = given = 0
    for video in plan.videos:
        with VideoReader(video.path) as reader:
            for window in iter_windows(reader.frames(), geometry=geometry, prep=prep, stride=plan.stride, tail=False):
                held = number % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1
                number += 1
                if held == (part == "held-out"):
                    yield window.inputs
                    given += 1
                    if given >= limit:
                        return
