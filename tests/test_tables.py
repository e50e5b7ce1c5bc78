"""The session tables' readers (sessions/tables.py) on files written here: what each kind of bad row is called,
what is kept, the order, the header, a torn last row, a missing or unreadable file. test_sessions_fuzz drives the
same readers through list/load/export/repair of a real recorded session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.sessions.layout import FRAMES_CSV, LABELS_CSV, PREDICTIONS_JSONL, LabeledSegment
from slowfast_core.sessions.tables import (
    FRAMES_REPAIR,
    LABELS_REPAIR,
    PREDICTIONS_REPAIR,
    FrameTable,
    parse_prediction,
    read_frames_checked,
    read_labels_checked,
    read_predictions_checked,
)


def write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder


def test_labels_sorted_header_skipped_and_each_bad_row_named(tmp_path: Path) -> None:
    write(tmp_path, LABELS_CSV, "label,start,end\n"
          "clap,2.0,3.0\n"
          "wave,0.5,1.5\n"
          "\n"
          "wave,0.5,1.0\n"
          "only,two\n"
          "x,soon,1\n"
          ",1,2\n"
          "y,-1,2\n"
          "z,1,inf\n"
          "w,2,2\n"
          '"open,1,2\n'
          "torn,1")
    segments, problems = read_labels_checked(tmp_path)
    assert segments == [LabeledSegment("wave", 0.5, 1.0), LabeledSegment("wave", 0.5, 1.5),
                        LabeledSegment("clap", 2.0, 3.0)]  # by start, then end
    (problem,) = problems
    assert problem.file == LABELS_CSV and problem.repair == LABELS_REPAIR
    assert problem.what == ("8 rows skipped: line 6 is not label,start,end; line 7 has a time that is not a number "
                            "('soon', '1'); line 8 has no label; and 5 more")  # three examples, then a count


def test_labels_every_reason_in_full(tmp_path: Path) -> None:
    for text, says in (("y,-1,2\n", "line 1 has a time that is not a finite number >= 0 (-1, 2)"),
                       ("z,1,inf\n", "line 1 has a time that is not a finite number >= 0 (1, inf)"),
                       ("w,2,1.5\n", "line 1 ends before it starts (w 2.00-1.50 s)"),
                       ("w,2,2\n", "line 1 ends before it starts (w 2.00-2.00 s)"),
                       ('"open,1,2\n', "line 1 is not label,start,end"),
                       ("a,1,2\nb,3,4", "line 2 'b,3,4' is cut off (no line end")):
        write(tmp_path, LABELS_CSV, text)
        segments, (problem,) = read_labels_checked(tmp_path)
        assert problem.what.startswith(f"1 row skipped: {says}"), text
    write(tmp_path, LABELS_CSV, "a,0,1e-9\n")
    assert read_labels_checked(tmp_path) == ([LabeledSegment("a", 0.0, 1e-9)], [])  # 0 is a start


def test_labels_missing_or_unreadable(tmp_path: Path) -> None:
    assert read_labels_checked(tmp_path) == ([], [])  # a session without labels
    os.mkfifo(tmp_path / LABELS_CSV)
    segments, (problem,) = read_labels_checked(tmp_path)
    assert segments == [] and problem.file == LABELS_CSV and problem.repair is None
    assert problem.what.endswith(": no labels read")


def test_frames_kept_in_order_and_each_bad_row_named(tmp_path: Path) -> None:
    write(tmp_path, FRAMES_CSV, "frame,segment,source_index,time\n"
          "0,0,10,0.0\n"
          "1,0,11,0.033\n"
          "1,0,12,0.05\n"
          "2,0,13,0.02\n"
          "3,1,x,0.1\n"
          "4,1,14\n"
          "-1,1,15,0.2\n"
          "5,1,16,nan\n"
          "6,1,17,-0.1\n"
          "\n"
          "7,1,18,0.2\n"
          "8,1,19,0.2\n")
    table, (problem,) = read_frames_checked(tmp_path)
    assert table.frame.tolist() == [0, 1, 7, 8] and table.segment.tolist() == [0, 0, 1, 1]
    assert table.source_index.tolist() == [10, 11, 18, 19] and table.time.tolist() == [0.0, 0.033, 0.2, 0.2]
    assert table.frame.dtype == np.int64 and table.time.dtype == np.float64 and len(table) == 4
    assert problem.file == FRAMES_CSV and problem.repair == FRAMES_REPAIR
    assert problem.what.startswith("7 rows skipped: line 4 goes back (frame 1 at 0.050 s after frame 1 at 0.033 s); "
                                   "line 5 goes back (frame 2 at 0.020 s after frame 1 at 0.033 s); "
                                   "line 6 is not frame,segment,source_index,time")


def test_frames_every_reason_in_full(tmp_path: Path) -> None:
    negative = "has a negative frame number or a time that is not a finite number >= 0"
    for text, says in (("-1,0,0,0\n", f"line 1 {negative}"), ("0,0,0,inf\n", f"line 1 {negative}"),
                       ("0,0,0,-1\n", f"line 1 {negative}"), ("0,0,0\n", "line 1 is not frame,segment,source_index,time"),
                       ("0,0,0,0\n1,0,1,0", "line 2 '1,0,1,0' is cut off")):
        write(tmp_path, FRAMES_CSV, text)
        _, (problem,) = read_frames_checked(tmp_path)
        assert problem.what.startswith(f"1 row skipped: {says}"), (text, problem.what)
    write(tmp_path, FRAMES_CSV, "0,0,0,0\n1,0,1,0\n")  # same time, next frame: kept
    table, problems = read_frames_checked(tmp_path)
    assert table.frame.tolist() == [0, 1] and problems == []
    write(tmp_path, FRAMES_CSV, "0,0,0,0\n1,0,1,0.1\n2,0,2,0.2\n3,0,3,0.15\n")  # back from the last kept row
    _, (problem,) = read_frames_checked(tmp_path)
    assert problem.what == "1 row skipped: line 4 goes back (frame 3 at 0.150 s after frame 2 at 0.200 s)"


def test_frames_missing_or_unreadable(tmp_path: Path) -> None:
    table, problems = read_frames_checked(tmp_path)
    assert len(table) == 0 and problems == []
    for column, dtype in (("frame", np.int64), ("segment", np.int64), ("source_index", np.int64),
                          ("time", np.float64)):
        array = getattr(table, column)
        assert array.shape == (0,) and array.dtype == dtype, column
    os.mkfifo(tmp_path / FRAMES_CSV)
    table, (problem,) = read_frames_checked(tmp_path)
    assert len(table) == 0 and problem.repair == FRAMES_REPAIR and problem.what.endswith(": no frame times read")
    assert problem.file == FRAMES_CSV and table.segment.shape == (0,) and table.source_index.shape == (0,)


def test_frames_between_is_half_open() -> None:
    table = FrameTable.from_rows([(0, 0, 0, 0.0), (1, 0, 1, 0.5), (2, 0, 2, 1.0), (3, 1, 3, 1.5)])
    assert table.frames_between(0.5, 1.5).tolist() == [1, 2]
    assert table.frames_between(0.0, 0.0).tolist() == [] and table.frames_between(1.5, 9).tolist() == [3]


def good(window: int) -> str:
    return json.dumps({"window": window, "start": 0.0, "end": 1.0, "topk": [{"label": "a", "prob": 0.5}]})


def test_predictions_kept_and_each_bad_line_named(tmp_path: Path) -> None:
    write(tmp_path, PREDICTIONS_JSONL, "\n".join([
        good(0), "{not json", "[1, 2]", json.dumps({"window": 1, "start": 2.0, "end": 1.0}),
        json.dumps({"window": 2, "end": 1.0}), good(3), '{"window": 4, "start": NaN, "end": 1}', ""]) + good(5)[:9])
    records, (problem,) = read_predictions_checked(tmp_path)
    assert [r.window for r in records] == [0, 3]
    assert problem.file == PREDICTIONS_JSONL and problem.repair == PREDICTIONS_REPAIR
    assert problem.what == ("6 rows skipped: line 2 is not JSON; "
                            "line 3 is not a prediction (TypeError: not a JSON object); "
                            "line 4 is not a prediction (the window ends before it starts (2.00-1.00 s)); and 3 more")
    write(tmp_path, PREDICTIONS_JSONL, json.dumps({"window": 2, "end": 1.0}) + "\n" + good(1)[:9])
    _, (problem,) = read_predictions_checked(tmp_path)
    assert problem.what == ("2 rows skipped: line 1 is not a prediction (KeyError: 'start'); "
                            "line 2 '{\"window\"' is cut off (no line end: the recording stopped mid-write?)")


def test_predictions_missing_or_unreadable(tmp_path: Path) -> None:
    assert read_predictions_checked(tmp_path) == ([], [])
    os.mkfifo(tmp_path / PREDICTIONS_JSONL)
    records, (problem,) = read_predictions_checked(tmp_path)
    assert records == [] and problem.repair is None and problem.what.endswith(": no predictions read")
    assert problem.file == PREDICTIONS_JSONL


def test_good_predictions_around_a_blank_line(tmp_path: Path) -> None:
    write(tmp_path, PREDICTIONS_JSONL, good(0) + "\n\n" + good(1) + "\n")
    records, problems = read_predictions_checked(tmp_path)
    assert [r.window for r in records] == [0, 1] and problems == []


def test_parse_prediction_takes_objects_only() -> None:
    assert parse_prediction(json.loads(good(7))).window == 7
    with pytest.raises(TypeError, match="^not a JSON object$"):
        parse_prediction([1])
