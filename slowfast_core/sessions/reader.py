"""The one typed, validating reader of a session's files: nothing on disk can make it raise.

Whatever a session folder holds (a hand-edited session.json with `"duration": "5.0"`, a labels.csv row that
ends before it starts, a torn last line after a crash, NaN in predictions.jsonl, a deleted video, a named
pipe where a file should be), reading it gives typed values plus a list of `Problem`s saying what was wrong,
what was skipped or replaced, and what `repair_session` can do about it. A damaged session is listed as
damaged; it never hides the others, and nothing is rewritten by reading.

Two depths: `read_info` + `quick_problems` (session.json, the video's presence, labels.csv: cheap, for
lists) and `read_session_files` (every row of every file and the video's index: for replay, export, repair).
Only regular files are opened (a FIFO would block the reader forever), and only up to a size limit.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from slowfast_core.files import not_regular
from slowfast_core.records import PredictionRecord
from slowfast_core.sessions.layout import (
    FORMAT_VERSION,
    FRAMES_CSV,
    FRAMES_HEADER,
    LABELS_CSV,
    LABELS_HEADER,
    PREDICTIONS_JSONL,
    SEGMENTS_DIR,
    SESSION_JSON,
    STATES,
    VIDEO_FILE,
    LabeledSegment,
    Problem,
    SessionError,
    SessionInfo,
    _one_line,
)
from slowfast_core.sessions.video import has_index, indexed_frames

#: Largest session.json read (a real one is < 2 kB).
MAX_INFO_BYTES = 1 << 20
#: Largest labels.csv, frames.csv or predictions.jsonl read (a 10-hour session is ~30 MB).
MAX_TABLE_BYTES = 1 << 30
#: Up to this many skipped rows are named in a problem's text; the rest are counted.
EXAMPLES = 3
BACKUP_NOTE = "keeping the original in repair-backup/"


# ------------------------------------------------------------------------------------------------ files


def regular_file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a file (missing, a pipe, a device, a folder), or None when it can."""
    kind = not_regular(path)
    if kind is None:
        return None
    if kind == "missing":
        return "is missing"
    if kind.startswith("unreadable"):
        return f"cannot be read{kind[len('unreadable'):]}"
    return f"is {kind}, not a regular file: not read"


def read_text(path: Path, *, limit: int) -> tuple[str | None, str | None]:
    """(text, None) of the regular file `path`, or (None, why not): missing, not a regular file (never opened:
    a named pipe would block), larger than `limit` bytes, unreadable. Undecodable bytes become U+FFFD."""
    why = regular_file_problem(path)
    if why is not None:
        return None, why
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if len(data) > limit:
        return None, f"is larger than {limit // (1 << 20)} MiB: not read"
    return data.decode("utf-8", errors="replace"), None


def complete_lines(text: str) -> tuple[list[tuple[int, str]], str | None]:
    """([(line number, line)] of the lines that end in a newline, the torn last line or None).

    Every writer of session files appends whole lines; a last line without its newline was cut off by a
    crash or a full disk."""
    lines = text.split("\n")
    torn = lines.pop()  # "" when the text ends with a newline
    return [(k + 1, line.rstrip("\r")) for k, line in enumerate(lines)], (torn if torn.strip() else None)


class _Skips:
    """Collects the rows a table reader skipped and turns them into one Problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rows: list[str] = []

    def add(self, line: int, why: str) -> None:
        self.rows.append(f"line {line} {why}")

    def torn(self, line: int, text: str) -> None:
        shown = text if len(text) <= 40 else text[:37] + "..."
        self.rows.append(f"line {line} {shown!r} is cut off (no line end: the recording stopped mid-write?)")

    def problem(self, repair: str | None) -> Problem | None:
        if not self.rows:
            return None
        n = len(self.rows)
        shown = "; ".join(self.rows[:EXAMPLES]) + (f"; and {n - EXAMPLES} more" if n > EXAMPLES else "")
        return Problem(self.file, f"{n} row{'s' if n != 1 else ''} skipped: {shown}", repair)


# ------------------------------------------------------------------------------------------ session.json


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 10_000


def _is_iso_time(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_label_set(v: Any) -> bool:
    return (isinstance(v, list) and len(v) <= 1000 and all(isinstance(x, str) and x.strip() for x in v)
            and len(set(v)) == len(v))


@dataclass(frozen=True)
class _Field:
    """How one session.json field is checked, what stands in when it is bad, and what repair does."""

    check: Callable[[Any], bool]
    rule: str  # what a good value is, for the problem text
    repair: str | None  # what repair_session does about a bad value
    required: bool = False


_OPTIONAL_TEXT = _Field(lambda v: v is None or _is_text(v), "text or null", "clears it")
FIELDS: dict[str, _Field] = {
    "name": _Field(lambda v: _is_text(v) and bool(v.strip()), "a non-empty name", "takes the folder's name", True),
    "labels": _Field(_is_label_set, "a list of distinct label names", "rebuilds it from labels.csv", True),
    "source": _Field(_is_text, "text", "clears it"),
    "fps": _Field(lambda v: _is_number(v) and 0 < v <= 1000, "frames per second in (0, 1000]",
                  "reads it from the video", True),
    "width": _Field(lambda v: _is_int(v) and 1 <= v <= 16384, "pixels from 1 to 16384", "reads it from the video",
                    True),
    "height": _Field(lambda v: _is_int(v) and 1 <= v <= 16384, "pixels from 1 to 16384",
                     "reads it from the video", True),
    "model": _Field(_is_text, "text", "clears it"),
    "weights": _OPTIONAL_TEXT,
    "program_version": _Field(_is_text, "text", "clears it"),
    "start_time": _Field(_is_iso_time, "an ISO 8601 time", "takes it from the folder's name", True),
    "clock_origin": _Field(lambda v: v is None or _is_number(v), "seconds or null", "clears it"),
    "state": _Field(lambda v: v in STATES, "one of " + ", ".join(STATES), "sets it from what is on disk"),
    "segment_seconds": _Field(lambda v: _is_number(v) and 0 < v <= 3600, "seconds in (0, 3600]", "resets it to 1 s"),
    "frames": _Field(lambda v: _is_int(v) and 0 <= v <= 10**9, "a frame count >= 0", "counts the video's frames"),
    "duration": _Field(lambda v: _is_number(v) and 0 <= v <= 10**7, "seconds >= 0", "measures it from frames.csv"),
    "frames_dropped": _Field(lambda v: _is_int(v) and v >= 0, "a count >= 0", "resets it to 0"),
    "end_time": _Field(lambda v: v is None or _is_iso_time(v), "an ISO 8601 time or null", "clears it"),
    "error": _OPTIONAL_TEXT,
    "pid": _Field(lambda v: v is None or (_is_int(v) and v > 0), "a process id or null", "clears it"),
    "pid_started": _Field(lambda v: v is None or _is_number(v), "a time or null", "clears it"),
    "repair": _Field(lambda v: v is None or isinstance(v, dict), "an object or null", "clears it"),
    "format": _Field(lambda v: _is_int(v) and v >= 1, "a format number >= 1", "sets it to this version's"),
}


def folder_start_time(path: Path) -> str:
    """The start time a session folder's name carries (`YYYYmmdd-HHMMSS_name`) as ISO 8601, else ""."""
    try:
        return datetime.strptime(path.name[:15], "%Y%m%d-%H%M%S").isoformat()
    except ValueError:
        return ""


def _placeholders(path: Path) -> dict[str, Any]:
    """What stands in for a bad or missing field: harmless values, never used to claim anything."""
    recording = (path / SEGMENTS_DIR).is_dir() and not (path / VIDEO_FILE).exists()
    return {
        "name": path.name.split("_", 1)[-1] or path.name, "labels": [], "source": "", "fps": 30.0, "width": 0,
        "height": 0, "model": "", "weights": None, "program_version": "", "start_time": folder_start_time(path),
        "clock_origin": None, "state": "recording" if recording else "finished", "segment_seconds": 1.0,
        "frames": 0, "duration": 0.0, "frames_dropped": 0, "end_time": None, "error": None, "pid": None,
        "pid_started": None, "repair": None, "format": FORMAT_VERSION,
    }


def _shown(value: Any) -> str:
    """A short form of a JSON value for a problem's text."""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) or math.isfinite(value) \
        else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_info(data: Any, path: Path) -> SessionInfo:
    """A SessionInfo from session.json's parsed content, whatever it is: bad fields get placeholders and a
    Problem each; keys this version does not know are kept for writing back."""
    path = Path(path)
    values = _placeholders(path)
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return _unknown_info(path, f"is {_shown(data)}, not a JSON object")
    invalid = set()
    for key, rule in FIELDS.items():
        if key not in data:
            if rule.required:
                invalid.add(key)
                problems.append(Problem(SESSION_JSON, f'"{key}" is missing', rule.repair))
            continue
        value = data[key]
        if rule.check(value):
            values[key] = value
        else:
            invalid.add(key)
            problems.append(Problem(SESSION_JSON, f'"{key}" is {_shown(value)}, not {rule.rule}', rule.repair))
    if "format" not in invalid and values["format"] > FORMAT_VERSION:
        problems.append(Problem(SESSION_JSON, f'"format" is {values["format"]}: written by a newer program (this '
                                f"one reads format {FORMAT_VERSION}): read as far as understood", None))
    values["labels"] = list(values["labels"])
    return SessionInfo(**values, path=path, problems=tuple(problems), raw=dict(data), invalid=frozenset(invalid))


def read_info(path: Path | str) -> SessionInfo:
    """session.json of the folder `path`, validated (see `parse_info`). SessionError only when the folder has
    no session.json at all (it is not a session); an unreadable or broken one is a damaged session."""
    path = Path(path)
    file = path / SESSION_JSON
    if not os.path.lexists(file):
        raise SessionError(f"{file} does not exist: {path} is not a session folder")
    text, why = read_text(file, limit=MAX_INFO_BYTES)
    if text is None:
        return _unknown_info(path, why or "cannot be read")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return _unknown_info(path, f"is not valid JSON ({_one_line(exc)})")
    return parse_info(data, path)


def _unknown_info(path: Path, why: str) -> SessionInfo:
    """The SessionInfo of a session whose session.json says nothing usable: placeholders, every field invalid."""
    problem = Problem(SESSION_JSON, f"{why}: the session's details are unknown",
                      f"rebuilds it from the other files, {BACKUP_NOTE}")
    return SessionInfo(**_placeholders(path), path=path, problems=(problem,), raw={}, invalid=frozenset(FIELDS))


def _with_problems(info: SessionInfo, problems: list[Problem], *, replace: bool = False) -> SessionInfo:
    """`info` with `problems` added (or instead of its own, `replace`)."""
    info.problems = tuple(problems) if replace else (*info.problems, *problems)
    return info


def info_is_broken(info: SessionInfo) -> bool:
    """True when session.json could not be read as an object at all (writing it back would lose it)."""
    return info.invalid == frozenset(FIELDS)


# ------------------------------------------------------------------------------------------------ labels

LABELS_REPAIR = f"rewrites labels.csv without them, {BACKUP_NOTE}"


def read_labels_checked(path: Path | str) -> tuple[list[LabeledSegment], list[Problem]]:
    """labels.csv of session folder `path` in start order, and what was wrong with it (rows skipped: not
    `label,start,end`, a time that is not a finite number >= 0, an end not after its start, a torn last row)."""
    text, why = read_text(Path(path) / LABELS_CSV, limit=MAX_TABLE_BYTES)
    if text is None:
        if why == "is missing":
            return [], []  # a session without labels
        return [], [Problem(LABELS_CSV, f"{why}: no labels read", None)]
    lines, torn = complete_lines(text)
    skips = _Skips(LABELS_CSV)
    out: list[LabeledSegment] = []
    for number, line in lines:
        if not line.strip():
            continue
        row = _csv_row(line)
        if number == 1 and tuple(row or ()) == LABELS_HEADER:
            continue
        if row is None or len(row) != 3:
            skips.add(number, "is not label,start,end")
            continue
        label, start_text, end_text = row
        try:
            start, end = float(start_text), float(end_text)
        except ValueError:
            skips.add(number, f"has a time that is not a number ({start_text!r}, {end_text!r})")
            continue
        if not label.strip():
            skips.add(number, "has no label")
        elif not (math.isfinite(start) and math.isfinite(end)) or start < 0:
            skips.add(number, f"has a time that is not a finite number >= 0 ({start_text}, {end_text})")
        elif end <= start:
            skips.add(number, f"ends before it starts ({label} {start:.2f}-{end:.2f} s)")
        else:
            out.append(LabeledSegment(label, start, end))
    if torn is not None:
        skips.torn(len(lines) + 1, torn)
    problem = skips.problem(LABELS_REPAIR)
    return sorted(out, key=lambda s: (s.start, s.end)), [problem] if problem else []


def _csv_row(line: str) -> list[str] | None:
    """One CSV line as fields, None when it is not CSV (an unterminated quote)."""
    try:
        rows = list(csv.reader(io.StringIO(line), strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


# ------------------------------------------------------------------------------------------------ frames


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

    @classmethod
    def from_rows(cls, rows: list[tuple[int, int, int, float]]) -> "FrameTable":
        """A table from (frame, segment, source_index, time) rows."""
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty.copy(), empty.copy(), np.zeros(0, dtype=np.float64))
        arr = np.array(rows, dtype=np.float64)  # (N, 4)
        return cls(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64),
                   arr[:, 3].copy())


FRAMES_REPAIR = f"rebuilds frames.csv for the frames the video holds, {BACKUP_NOTE}"


def read_frames_checked(path: Path | str) -> tuple[FrameTable, list[Problem]]:
    """frames.csv of session folder `path` and what was wrong with it (rows skipped: not four numbers, a
    negative or out-of-order frame number, a time that is not finite or goes back, a torn last row)."""
    text, why = read_text(Path(path) / FRAMES_CSV, limit=MAX_TABLE_BYTES)
    if text is None:
        if why == "is missing":
            return FrameTable.from_rows([]), []
        return FrameTable.from_rows([]), [Problem(FRAMES_CSV, f"{why}: no frame times read", FRAMES_REPAIR)]
    lines, torn = complete_lines(text)
    skips = _Skips(FRAMES_CSV)
    rows: list[tuple[int, int, int, float]] = []
    for number, line in lines:
        if not line.strip():
            continue
        row = _csv_row(line)
        if number == 1 and tuple(row or ()) == FRAMES_HEADER:
            continue
        try:
            if row is None or len(row) != 4:
                raise ValueError
            frame, segment, source, t = int(row[0]), int(row[1]), int(row[2]), float(row[3])
        except ValueError:
            skips.add(number, "is not frame,segment,source_index,time")
            continue
        if frame < 0 or not math.isfinite(t) or t < 0:
            skips.add(number, "has a negative frame number or a time that is not a finite number >= 0")
        elif rows and (frame <= rows[-1][0] or t < rows[-1][3]):
            skips.add(number, f"goes back (frame {frame} at {t:.3f} s after frame {rows[-1][0]} at "
                              f"{rows[-1][3]:.3f} s)")
        else:
            rows.append((frame, segment, source, t))
    if torn is not None:
        skips.torn(len(lines) + 1, torn)
    problem = skips.problem(FRAMES_REPAIR)
    return FrameTable.from_rows(rows), [problem] if problem else []


# ------------------------------------------------------------------------------------------- predictions


def parse_prediction(obj: Any) -> PredictionRecord:
    """The record of one predictions.jsonl object (`PredictionRecord.from_dict`); KeyError/TypeError/ValueError
    when it is not one (a missing field, a wrong type, a non-finite number, an end before the start)."""
    if not isinstance(obj, dict):
        raise TypeError("not a JSON object")
    return PredictionRecord.from_dict(obj)


PREDICTIONS_REPAIR = f"rewrites predictions.jsonl without them, {BACKUP_NOTE}"


def read_predictions_checked(path: Path | str) -> tuple[list[PredictionRecord], list[Problem]]:
    """predictions.jsonl of session folder `path` and what was wrong with it (lines skipped: not JSON, not a
    prediction, NaN/Infinity, an end before the start, a torn last line)."""
    text, why = read_text(Path(path) / PREDICTIONS_JSONL, limit=MAX_TABLE_BYTES)
    if text is None:
        if why == "is missing":
            return [], []
        return [], [Problem(PREDICTIONS_JSONL, f"{why}: no predictions read", None)]
    lines, torn = complete_lines(text)
    skips = _Skips(PREDICTIONS_JSONL)
    out = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            out.append(parse_prediction(json.loads(line)))
        except ValueError as exc:
            is_json = not isinstance(exc, json.JSONDecodeError)
            skips.add(number, f"is not a prediction ({_one_line(exc)})" if is_json else "is not JSON")
        except (KeyError, TypeError, AttributeError) as exc:
            skips.add(number, f"is not a prediction ({type(exc).__name__}: {_one_line(exc)})")
    if torn is not None:
        skips.torn(len(lines) + 1, torn)
    problem = skips.problem(PREDICTIONS_REPAIR)
    return out, [problem] if problem else []


# ------------------------------------------------------------------------------------------------- video


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


__all__ = [
    "FIELDS", "FrameTable", "PredictionRecord", "SessionFiles", "complete_lines", "folder_start_time",
    "info_is_broken", "parse_info", "parse_prediction", "quick_problems", "read_frames_checked", "read_info",
    "read_labels_checked", "read_predictions_checked", "read_session_files", "read_text", "regular_file_problem",
    "video_problems",
]
