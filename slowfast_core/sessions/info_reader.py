"""session.json read and validated: every field checked, a placeholder and a `Problem` for each bad one.

`read_info` never raises on what the file holds (only when the folder has no session.json: not a session);
`parse_info` checks parsed content against `FIELDS`, which also says what `repair_session` does per field.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from slowfast_core.sessions.layout import (
    FORMAT_VERSION,
    SEGMENTS_DIR,
    SESSION_JSON,
    STATES,
    VIDEO_FILE,
    Problem,
    SessionError,
    SessionInfo,
    _one_line,
)
from slowfast_core.sessions.safe_read import BACKUP_NOTE, MAX_INFO_BYTES, read_text


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


def info_is_broken(info: SessionInfo) -> bool:
    """True when session.json could not be read as an object at all (writing it back would lose it)."""
    return info.invalid == frozenset(FIELDS)

