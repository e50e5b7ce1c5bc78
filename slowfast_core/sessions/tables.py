"""A session's tables read and checked row by row: labels.csv, frames.csv and predictions.jsonl.

Each reader returns what it could read plus the `Problem`s: rows skipped (malformed, out of range, a torn last
row) are counted and named, and the repair that fixes them is said. Nothing here raises on a file's content.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slowfast_core.records import PredictionRecord
from slowfast_core.sessions.layout import (
    FRAMES_CSV,
    FRAMES_HEADER,
    LABELS_CSV,
    LABELS_HEADER,
    PREDICTIONS_JSONL,
    LabeledSegment,
    Problem,
    _one_line,
)
from slowfast_core.sessions.safe_read import BACKUP_NOTE, MAX_TABLE_BYTES, Skips, complete_lines, read_text


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
    skips = Skips(LABELS_CSV)
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
    skips = Skips(FRAMES_CSV)
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
    skips = Skips(PREDICTIONS_JSONL)
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

