"""Reading sessions back: list them, load one (labels, predictions, frame table, video), rename, delete."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from slowfast_core.errors import SlowFastError
from slowfast_core.files import slugify
from slowfast_core.records import PredictionRecord
from slowfast_core.sessions.layout import (
    SEGMENTS_DIR,
    SESSION_JSON,
    VIDEO_FILE,
    LabeledSegment,
    SessionError,
    SessionInfo,
    write_info,
)
from slowfast_core.sessions.info_reader import info_is_broken, read_info
from slowfast_core.sessions.reader import quick_problems, read_session_files
from slowfast_core.sessions.tables import FrameTable, parse_prediction, read_frames_checked, read_predictions_checked
from slowfast_core.userdirs import default_root

logger = logging.getLogger(__name__)

__all__ = ["FrameTable", "PredictionRecord", "Session", "parse_prediction"]


@dataclass(frozen=True)
class Session:
    """A session folder read back: metadata, labeled segments, predictions, frame table, video.

    `info.problems` says what the reader found wrong and skipped (see slowfast_core.sessions.reader)."""

    info: SessionInfo
    labels: tuple[LabeledSegment, ...]
    predictions: tuple[PredictionRecord, ...]
    frames: FrameTable
    video_path: Path | None  # None while unfinished (the video is still in segments), with no frames, or damaged

    @property
    def path(self) -> Path:
        """The session folder."""
        return self.info.path

    @property
    def name(self) -> str:
        """The session's name."""
        return self.info.name

    @property
    def problems(self) -> tuple:
        """What is wrong with the session's files (empty for a healthy session)."""
        return self.info.problems


def read_frames(path: Path) -> FrameTable:
    """frames.csv of session folder `path` (rows that do not parse, and a torn last line, are skipped)."""
    return read_frames_checked(path)[0]


def read_predictions(path: Path) -> list[PredictionRecord]:
    """predictions.jsonl of session folder `path`; torn or malformed lines are skipped."""
    return read_predictions_checked(path)[0]


def load_session(path: Path | str) -> Session:
    """Read a whole session folder, checking every file: whatever is damaged is skipped and listed in
    `info.problems`, never raised. SessionError only when the folder holds no session.json."""
    files = read_session_files(path)
    return Session(info=files.info, labels=tuple(files.labels), predictions=tuple(files.predictions),
                   frames=files.frames, video_path=files.video_path)


def list_sessions(root: Path | str | None = None, *, check: bool = False) -> list[SessionInfo]:
    """Every session under `root` (default: `default_root()`), oldest first. A damaged one is listed with its
    `problems` (session.json, the video file and labels.csv are checked; `check` also reads every row of the
    other files and the video's index, as `load_session` does). A missing root is an empty list."""
    root = Path(root) if root is not None else default_root()
    try:
        children = sorted(root.iterdir()) if root.is_dir() else []
    except OSError as exc:
        raise SessionError(f"cannot list the sessions folder {root} ({exc.strerror or exc}): check its "
                           "permissions") from None
    out = []
    for child in children:
        if not os.path.lexists(child / SESSION_JSON):
            continue
        try:
            if check:
                out.append(read_session_files(child).info)
            else:
                info = read_info(child)
                info.problems = (*info.problems, *quick_problems(info))
                out.append(info)
        except SessionError as exc:  # vanished between the listing and the read
            logger.info("skipping %s: %s", child, exc)
    return sorted(out, key=lambda i: (i.start_time, i.folder))


def find_unfinished(root: Path | str | None = None) -> list[SessionInfo]:
    """Sessions still marked "recording" whose recording process is gone (crashed, killed, or stopped
    by an error without a final join): the ones `repair_session` should fix at program start."""
    from slowfast_core.sessions.folder import process_alive

    return [i for i in list_sessions(root) if i.unfinished and not process_alive(i.pid, i.pid_started)]


def find_repairable(root: Path | str | None = None) -> list[SessionInfo]:
    """What `slowfast sessions repair` works on by default: the unfinished sessions of `find_unfinished` and the
    finished ones whose files have problems repair can fix (every file checked, as `load_session` does)."""
    from slowfast_core.sessions.folder import process_alive

    out = []
    for info in list_sessions(root, check=True):
        if info.unfinished:
            if not process_alive(info.pid, info.pid_started):
                out.append(info)
        elif any(p.repair for p in info.problems):
            out.append(info)
    return out


def resolve_session(ref: str, root: Path | str | None = None) -> Path:
    """A session folder from what a user typed: a path, a folder name under `root`, or a session name."""
    as_path = Path(ref).expanduser()
    if os.path.lexists(as_path / SESSION_JSON):
        return as_path
    root = Path(root) if root is not None else default_root()
    if os.path.lexists(root / ref / SESSION_JSON):
        return root / ref
    matches = [i.path for i in list_sessions(root) if i.name == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SessionError(f"{len(matches)} sessions are named {ref!r} in {root}: give the folder name instead "
                           "(see `slowfast sessions list`)")
    raise SessionError(f"no session {ref!r} in {root}: see `slowfast sessions list` for the names")


def rename_session(path: Path | str, new_name: str) -> Path:
    """Give a session a new name (session.json) and a matching folder name; returns the new folder."""
    path = Path(path)
    if not new_name or not new_name.strip():
        raise SessionError("the new session name is empty: give the session a name")
    info = read_info(path)
    if info.unfinished:
        raise SessionError(f"{path} is unfinished: repair it first (`slowfast sessions repair`)")
    if info_is_broken(info):
        raise SessionError(f"{path / SESSION_JSON} is damaged ({info.problems[0].what}): repair the session "
                           "first (`slowfast sessions repair`)")
    info.name = new_name.strip()
    write_info(info)
    prefix = path.name.split("_", 1)[0] if "_" in path.name else path.name
    target = path.with_name(f"{prefix}_{slugify(info.name)}")
    if target == path:
        return path
    k = 2
    base = target
    while target.exists():
        target = base.with_name(f"{base.name}-{k}")
        k += 1
    path.rename(target)
    return target


def delete_session(path: Path | str) -> None:
    """Delete a session folder and everything in it. SessionError when `path` is not a session folder."""
    path = Path(path)
    if not os.path.lexists(path / SESSION_JSON):
        raise SessionError(f"{path} is not a session folder (no {SESSION_JSON}): nothing deleted")
    from slowfast_core.sessions.folder import process_alive

    info = read_info(path)
    if info.unfinished and process_alive(info.pid, info.pid_started):
        raise SessionError(f"{path} is being recorded right now (process {info.pid}): stop the recording first")
    shutil.rmtree(path)


def session_segments(path: Path) -> list[Path]:
    """The segment files of an unfinished session, in recording order."""
    return sorted((Path(path) / SEGMENTS_DIR).glob("*.mp4"))


def sessions_videos(root: Path | None = None) -> list[Path]:
    """The videos of the user's finished (or repaired) recorded sessions, oldest first; [] when there are none
    (what int8 calibration uses when no video is named)."""
    try:
        infos = list_sessions(root)
    except SlowFastError:
        return []
    return [i.path / VIDEO_FILE for i in infos if not i.unfinished and (i.path / VIDEO_FILE).is_file()]
