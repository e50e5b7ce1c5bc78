"""The one typed, validating reader of a session's files: nothing on disk can make it raise.

Whatever a session folder holds (a hand-edited session.json with `"duration": "5.0"`, a labels.csv row that
ends before it starts, a torn last line after a crash, NaN in predictions.jsonl, a deleted video, a named
pipe where a file should be), reading it gives typed values plus a list of `Problem`s saying what was wrong,
what was skipped or replaced, and what `repair_session` can do about it. A damaged session is listed as
damaged; it never hides the others, and nothing is rewritten by reading.

Two depths: `read_info` + `quick_problems` (session.json, the video's presence, labels.csv: cheap, for
lists) and `read_session_files` (every row of every file and the video's index: for replay, export, repair).
Only regular files are opened (a FIFO would block the reader forever), and only up to a size limit
(safe_read.py). session.json is read by info_reader.py, the tables by tables.py; this module checks the video
and puts a whole session together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slowfast_core.records import PredictionRecord
from slowfast_core.sessions.layout import (
    FRAMES_CSV,
    SEGMENTS_DIR,
    SESSION_JSON,
    VIDEO_FILE,
    LabeledSegment,
    Problem,
    SessionInfo,
)
from slowfast_core.sessions.info_reader import read_info
from slowfast_core.sessions.safe_read import regular_file_problem
from slowfast_core.sessions.tables import (
    FRAMES_REPAIR,
    FrameTable,
    read_frames_checked,
    read_labels_checked,
    read_predictions_checked,
)
from slowfast_core.sessions.video import has_index, indexed_frames


def _with_problems(info: SessionInfo, problems: list[Problem], *, replace: bool = False) -> SessionInfo:
    """`info` with `problems` added (or instead of its own, `replace`)."""
    info.problems = tuple(problems) if replace else (*info.problems, *problems)
    return info




def video_problems(info: SessionInfo) -> list[Problem]:
    """What is wrong with the video of a finished or repaired session (its file, not its frames): missing,
    not a regular file, or without its index. Unfinished sessions keep their video in segments: []."""
    if info.unfinished:
        return []
    file = info.path / VIDEO_FILE
    segments = (info.path / SEGMENTS_DIR).is_dir() and any((info.path / SEGMENTS_DIR).glob("*.mp4"))
    restore = "joins the recorded segments again" if segments else None
    why = regular_file_problem(file)
    if why == "is missing":
        if info.frames == 0 and not segments:
            return []  # a session stopped before its first frame: nothing to show
        lost = "" if segments else ": it cannot be restored; the labels and predictions are kept"
        return [Problem(VIDEO_FILE, f"is missing (deleted?){lost}", restore)]
    if why is not None:
        return [Problem(VIDEO_FILE, why, restore)]
    if not has_index(file):
        return [Problem(VIDEO_FILE, "has no index (cut short or damaged): it does not play", restore)]
    return []


def quick_problems(info: SessionInfo) -> list[Problem]:
    """The cheap checks a list runs beyond session.json: the video file and labels.csv."""
    return [*video_problems(info), *read_labels_checked(info.path)[1]]


@dataclass(frozen=True)
class SessionFiles:
    """Every file of a session read back and checked: the parts `Session` is made of, and the problems."""

    info: SessionInfo  # with every problem found attached
    labels: list[LabeledSegment]
    predictions: list[PredictionRecord]
    frames: FrameTable
    video_path: Path | None  # a playable video.mp4, else None
    video_frames: int | None  # the frames its index claims


def read_session_files(path: Path | str) -> SessionFiles:
    """Read and check everything in session folder `path` (see the module doc). SessionError only when the
    folder holds no session.json."""
    info = read_info(path)
    labels, label_problems = read_labels_checked(info.path)
    frames, frame_problems = read_frames_checked(info.path)
    predictions, prediction_problems = read_predictions_checked(info.path)
    problems = [*video_problems(info), *label_problems, *frame_problems, *prediction_problems]
    video: Path | None = None
    count = None
    if not info.unfinished and not any(p.file == VIDEO_FILE for p in problems) and (info.path / VIDEO_FILE).exists():
        video = info.path / VIDEO_FILE
        count = indexed_frames(video)
        if count is None:
            problems.append(Problem(VIDEO_FILE, "does not open as a video: it does not play", None))
            video = None
        elif count != len(frames):
            problems.append(Problem(FRAMES_CSV, f"lists {len(frames)} frames but the video holds {count}",
                                    FRAMES_REPAIR))
        elif "frames" not in info.invalid and info.frames != count:
            problems.append(Problem(SESSION_JSON, f'"frames" is {info.frames} but the video holds {count}',
                                    "counts the video's frames"))
    return SessionFiles(_with_problems(info, problems), labels, predictions, frames, video, count)
