"""Reading sessions back: list them, load one (labels, predictions, frame table, video), rename, delete."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slowfast_core.sessions.layout import (
    FRAMES_CSV,
    FRAMES_HEADER,
    PREDICTIONS_JSONL,
    SEGMENTS_DIR,
    SESSION_JSON,
    VIDEO_FILE,
    LabeledSegment,
    SessionError,
    SessionInfo,
    default_root,
    read_csv_rows,
    read_info,
    read_labels,
    slugify,
    write_info,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionRecord:
    """One line of predictions.jsonl. Times are seconds since the session start."""

    id: int
    start: float  # the window's first frame
    end: float  # the window's last frame
    label: str | None  # after smoothing; None = no confident action
    confidence: float
    topk: tuple[tuple[str, float], ...]  # raw top-k
    first_index: int = -1
    last_index: int = -1
    timings: dict[str, float] | None = None
    backend: str = ""

    @property
    def mid(self) -> float:
        """The middle of the window: the moment the prediction describes best."""
        return 0.5 * (self.start + self.end)


@dataclass(frozen=True)
class FrameTable:
    """frames.csv as arrays: row k describes frame k of the video."""

    frame: np.ndarray  # (N,) int64, 0..N-1 for a finished session
    segment: np.ndarray  # (N,) int64, the segment the frame was recorded in
    source_index: np.ndarray  # (N,) int64, FramePacket.index
    time: np.ndarray  # (N,) float64, seconds since the session start

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def frames_between(self, start: float, end: float) -> np.ndarray:
        """Video frame numbers whose time lies in [start, end)."""
        mask = (self.time >= start) & (self.time < end)
        return self.frame[mask]


@dataclass(frozen=True)
class Session:
    """A session folder read back: metadata, labeled segments, predictions, frame table, video."""

    info: SessionInfo
    labels: tuple[LabeledSegment, ...]
    predictions: tuple[PredictionRecord, ...]
    frames: FrameTable
    video_path: Path | None  # None while unfinished (the video is still in segments) or with no frames

    @property
    def path(self) -> Path:
        """The session folder."""
        return self.info.path

    @property
    def name(self) -> str:
        """The session's name."""
        return self.info.name


def read_frames(path: Path) -> FrameTable:
    """frames.csv of session folder `path` (rows that do not parse, and a torn last line, are skipped)."""
    rows = []
    for row in read_csv_rows(Path(path) / FRAMES_CSV, FRAMES_HEADER):
        try:
            rows.append((int(row[0]), int(row[1]), int(row[2]), float(row[3])))
        except ValueError:
            continue
    if not rows:
        empty_i = np.zeros(0, dtype=np.int64)
        return FrameTable(empty_i, empty_i.copy(), empty_i.copy(), np.zeros(0, dtype=np.float64))
    arr = np.array(rows, dtype=np.float64)  # (N, 4)
    return FrameTable(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64),
                      arr[:, 3].copy())


def parse_prediction(obj: dict) -> PredictionRecord:
    """A PredictionRecord from one predictions.jsonl object (KeyError/TypeError/ValueError when malformed)."""
    return PredictionRecord(
        id=int(obj["id"]), start=float(obj["start"]), end=float(obj["end"]),
        label=obj.get("label"), confidence=float(obj.get("confidence", 0.0)),
        topk=tuple((str(n), float(p)) for n, p in obj.get("topk", [])),
        first_index=int(obj.get("first_index", -1)), last_index=int(obj.get("last_index", -1)),
        timings=obj.get("timings"), backend=str(obj.get("backend", "")),
    )


def read_predictions(path: Path) -> list[PredictionRecord]:
    """predictions.jsonl of session folder `path`; torn or malformed lines are skipped."""
    file = Path(path) / PREDICTIONS_JSONL
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SessionError(f"{file} is unreadable ({exc.strerror}): restore it or delete the session") from None
    out = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n") or not line.strip():
            continue  # a torn last line from a crash
        try:
            out.append(parse_prediction(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def load_session(path: Path | str) -> Session:
    """Read a whole session folder. SessionError when session.json is missing or broken."""
    path = Path(path)
    info = read_info(path)
    video = path / VIDEO_FILE
    return Session(
        info=info,
        labels=tuple(read_labels(path)),
        predictions=tuple(read_predictions(path)),
        frames=read_frames(path),
        video_path=video if video.is_file() and not info.unfinished else None,
    )


def list_sessions(root: Path | str | None = None) -> list[SessionInfo]:
    """Every session under `root` (default: `default_root()`), oldest first; broken folders are skipped
    with a warning. A missing root is an empty list."""
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        if not (child / SESSION_JSON).is_file():
            continue
        try:
            out.append(read_info(child))
        except SessionError as exc:
            logger.warning("skipping %s: %s", child, exc)
    return sorted(out, key=lambda i: (i.start_time, i.folder))


def find_unfinished(root: Path | str | None = None) -> list[SessionInfo]:
    """Sessions still marked "recording" whose recording process is gone (crashed, killed, or stopped
    by an error without a final join): the ones `repair_session` should fix at program start."""
    from slowfast_core.sessions.recorder import process_alive

    return [i for i in list_sessions(root) if i.unfinished and not process_alive(i.pid, i.pid_started)]


def resolve_session(ref: str, root: Path | str | None = None) -> Path:
    """A session folder from what a user typed: a path, a folder name under `root`, or a session name."""
    as_path = Path(ref).expanduser()
    if (as_path / SESSION_JSON).is_file():
        return as_path
    root = Path(root) if root is not None else default_root()
    if (root / ref / SESSION_JSON).is_file():
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
    if not (path / SESSION_JSON).is_file():
        raise SessionError(f"{path} is not a session folder (no {SESSION_JSON}): nothing deleted")
    from slowfast_core.sessions.recorder import process_alive

    info = read_info(path)
    if info.unfinished and process_alive(info.pid, info.pid_started):
        raise SessionError(f"{path} is being recorded right now (process {info.pid}): stop the recording first")
    shutil.rmtree(path)


def session_segments(path: Path) -> list[Path]:
    """The segment files of an unfinished session, in recording order."""
    return sorted((Path(path) / SEGMENTS_DIR).glob("*.mp4"))
