"""session.json's validation (sessions/info_reader.py) as a pure function: each field's edges, booleans and
non-finite numbers where numbers belong, placeholders and the problem texts. test_sessions_fuzz drives the same
rules through list/load/export/repair on a real recorded session; these pin every bound."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from slowfast_core.sessions.info_reader import FIELDS, folder_start_time, info_is_broken, parse_info, read_info
from slowfast_core.sessions.layout import FORMAT_VERSION, SEGMENTS_DIR, SESSION_JSON, SessionError
from slowfast_core.sessions.safe_read import MAX_INFO_BYTES, read_text

FOLDER = Path("/sessions/20260102-030405_morning")

GOOD = {
    "name": "morning", "labels": ["wave", "clap"], "source": "camera 0", "fps": 30.0, "width": 640, "height": 480,
    "model": "slowfast_tiny", "weights": None, "program_version": "0.1.0", "start_time": "2026-01-02T03:04:05+00:00",
    "clock_origin": 12.5, "state": "finished", "segment_seconds": 1.0, "frames": 300, "duration": 10.0,
    "frames_dropped": 0, "end_time": "2026-01-02T03:04:15+00:00", "error": None, "pid": None, "pid_started": None,
    "repair": None, "format": FORMAT_VERSION,
}


def test_a_good_session_json_is_taken_whole() -> None:
    info = parse_info(dict(GOOD), FOLDER)
    assert info.problems == () and info.invalid == frozenset() and not info_is_broken(info)
    for key, value in GOOD.items():
        assert getattr(info, key) == value, key
    assert info.path == FOLDER and info.raw == GOOD


# (field, bad values, good values at the edges); booleans, NaN and infinities are never numbers
CASES = {
    "name": (["", "   ", 5, None, "x" * 10_001], ["a", "x" * 10_000]),
    "labels": (["wave", ["a", "a"], [""], [" "], [3], [None], [f"l{i}" for i in range(1001)], None],
               [[], ["a"], [f"l{i}" for i in range(1000)]]),
    "source": ([5, None, ["a"]], ["", "file.mp4"]),
    "fps": ([0, -1, 1000.0001, True, False, math.nan, math.inf, -math.inf, "30", None], [1000, 0.001, 25]),
    "width": ([0, 16385, 64.0, True, "640", None, math.nan], [1, 16384]),
    "height": ([0, 16385, 48.5, False, None], [1, 16384]),
    "model": ([None, 1], [""]),
    "weights": ([5, [], "x" * 10_001], [None, "w.pyth"]),
    "program_version": ([[], 1.0], ["0.2"]),
    "start_time": ([5, "yesterday", None, ""], ["2026-01-02T03:04:05", "2026-01-02"]),
    "clock_origin": (["50", True, math.nan, math.inf], [None, 0, -5.5]),
    "state": (["banana", 1, None], ["recording", "finished"]),
    "segment_seconds": ([0, -1.0, 3600.5, True, math.inf, math.nan, "1"], [3600, 0.01]),
    "frames": ([-1, 10**9 + 1, 3.0, True, "40", None], [0, 10**9]),
    "duration": ([-0.001, 10**7 + 1, True, math.nan, math.inf, "5", None], [0, 0.0, 10**7]),
    "frames_dropped": ([-1, 1.0, True, None], [0, 7]),
    "end_time": ([5, "later"], [None, "2026-01-02T03:04:15"]),
    "error": ([5, {}], [None, "disk full"]),
    "pid": (["123", 0, -5, 1.0, True], [None, 1]),
    "pid_started": (["x", True, math.nan, -math.inf], [None, 0, 1.5]),
    "repair": ([[], "x", 1], [None, {}]),
    "format": (["1", 0, 1.0, True, None], [1]),
}


#: what stands in for each bad field of a finished session in FOLDER
PLACEHOLDERS = {
    "name": "morning", "labels": [], "source": "", "fps": 30.0, "width": 0, "height": 0, "model": "", "weights": None,
    "program_version": "", "start_time": "2026-01-02T03:04:05", "clock_origin": None, "state": "finished",
    "segment_seconds": 1.0, "frames": 0, "duration": 0.0, "frames_dropped": 0, "end_time": None, "error": None,
    "pid": None, "pid_started": None, "repair": None, "format": FORMAT_VERSION,
}


def test_every_field_has_cases() -> None:
    assert set(CASES) == set(FIELDS)


@pytest.mark.parametrize("key,value", [(k, v) for k, (bad, _) in CASES.items() for v in bad],
                         ids=lambda v: repr(v)[:20])
def test_a_bad_value_is_a_problem_and_gets_the_placeholder(key: str, value: object) -> None:
    data = {**GOOD, key: value}
    info = parse_info(data, FOLDER)
    assert info.invalid == {key}
    (problem,) = info.problems
    assert problem.file == SESSION_JSON and problem.what.startswith(f'"{key}" is ')
    assert problem.what.endswith(f"not {FIELDS[key].rule}") and problem.repair == FIELDS[key].repair
    assert getattr(info, key) == PLACEHOLDERS[key] and type(getattr(info, key)) is type(PLACEHOLDERS[key])
    assert info.raw == data  # kept for writing back


@pytest.mark.parametrize("key,value", [(k, v) for k, (_, good) in CASES.items() for v in good],
                         ids=lambda v: repr(v)[:20])
def test_a_good_value_at_the_edge_is_taken(key: str, value: object) -> None:
    info = parse_info({**GOOD, key: value}, FOLDER)
    assert info.problems == () and getattr(info, key) == value


def test_placeholders_for_a_bad_field() -> None:
    bad = parse_info({k: [[]] for k in GOOD}, FOLDER)  # a list of lists is no field's value
    assert bad.invalid == set(FIELDS) and len(bad.problems) == len(FIELDS)
    assert {k: getattr(bad, k) for k in FIELDS} == PLACEHOLDERS


def test_the_name_placeholder_is_everything_after_the_time() -> None:
    info = parse_info({**GOOD, "name": ""}, Path("/s/20260102-030405_morning_walk_2"))
    assert info.name == "morning_walk_2"
    assert parse_info({**GOOD, "name": ""}, Path("/s/plain")).name == "plain"
    assert parse_info({**GOOD, "name": ""}, Path("/s/20260102-030405_")).name == "20260102-030405_"


def test_missing_fields_required_or_not() -> None:
    info = parse_info({}, FOLDER)
    assert {p.file for p in info.problems} == {SESSION_JSON}
    required = {k for k, f in FIELDS.items() if f.required}
    assert required == {"name", "labels", "fps", "width", "height", "start_time"}
    assert info.invalid == required
    assert sorted(p.what for p in info.problems) == sorted(f'"{k}" is missing' for k in required)
    assert [p.repair for p in info.problems] == [FIELDS[k].repair for k in FIELDS if k in required]


def test_a_newer_format_is_read_as_far_as_understood() -> None:
    info = parse_info({**GOOD, "format": FORMAT_VERSION + 1, "new_key": [1]}, FOLDER)
    (problem,) = info.problems
    assert problem.file == SESSION_JSON
    assert problem.repair is None and "written by a newer program" in problem.what
    assert f"reads format {FORMAT_VERSION}" in problem.what and info.raw["new_key"] == [1]
    assert info.invalid == frozenset()


@pytest.mark.parametrize("data,shown", [([], "[]"), (None, "null"), (5, "5"), ("x" * 50, '"' + "x" * 36 + "...")])
def test_not_an_object_is_broken(data: object, shown: str) -> None:
    info = parse_info(data, FOLDER)
    assert info_is_broken(info) and info.name == "morning" and info.raw == {}
    (problem,) = info.problems
    assert problem.what == f"is {shown}, not a JSON object: the session's details are unknown"
    assert problem.repair.startswith("rebuilds it from the other files")


def test_problem_texts_show_the_value_shortly() -> None:
    assert parse_info({**GOOD, "fps": math.nan}, FOLDER).problems[0].what.startswith('"fps" is nan, not')
    assert parse_info({**GOOD, "fps": True}, FOLDER).problems[0].what.startswith('"fps" is true, not')
    long = parse_info({**GOOD, "source": ["y" * 60]}, FOLDER).problems[0].what
    assert long.startswith('"source" is ["' + "y" * 35 + '..., not')
    assert parse_info({**GOOD, "source": ["é"]}, FOLDER).problems[0].what.startswith('"source" is ["é"], not')
    edge = ["z" * 36]  # ["zzz…"]: 40 characters shown whole, one more is cut
    assert parse_info({**GOOD, "source": edge}, FOLDER).problems[0].what.startswith(f'"source" is ["{"z" * 36}"], ')
    cut = parse_info({**GOOD, "source": ["z" * 37]}, FOLDER).problems[0].what
    assert cut.startswith('"source" is ["' + "z" * 35 + '..., not')


def test_folder_start_time() -> None:
    assert folder_start_time(FOLDER) == "2026-01-02T03:04:05"
    assert folder_start_time(Path("20261231-235959")) == "2026-12-31T23:59:59"
    assert folder_start_time(Path("morning")) == "" and folder_start_time(Path("2026-01-02_x")) == ""


def test_read_info_from_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "20260102-030405_x"
    with pytest.raises(SessionError, match="not a session folder"):
        read_info(folder)
    folder.mkdir()
    (folder / SESSION_JSON).write_text(json.dumps(GOOD))
    assert read_info(str(folder)).problems == () and read_info(folder).path == folder
    (folder / SESSION_JSON).write_text("{broken")
    broken = read_info(folder)
    assert info_is_broken(broken) and broken.path == folder and broken.problems[0].file == SESSION_JSON
    assert broken.problems[0].what.startswith("is not valid JSON (Expecting property name")
    assert broken.state == "finished"
    (folder / SESSION_JSON).unlink()
    os.mkfifo(folder / SESSION_JSON)  # never opened: a pipe would block the reader
    _, why = read_text(folder / SESSION_JSON, limit=MAX_INFO_BYTES)
    piped = read_info(folder)
    assert why and piped.problems[0].what == f"{why}: the session's details are unknown" and piped.path == folder
    (folder / SESSION_JSON).unlink()
    (folder / SESSION_JSON).write_text("{broken")
    (folder / SEGMENTS_DIR).mkdir()  # segments and no joined video: still being recorded (or crashed)
    assert read_info(folder).state == "recording"
