"""A new session folder, the one-line write failures, disk space, and whether the recording process lives.

`create_session` checks the request (name, label set, sizes), the disk (room, permissions) and creates
`root/<YYYYmmdd-HHMMSS>_<name>/` with its empty files and session.json (state "recording", with this
process's pid and start time so that a later reader can tell a live recording from a crashed one).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from slowfast_core.files import slugify
from slowfast_core.progress import format_bytes
from slowfast_core.sessions.layout import (
    FRAMES_CSV,
    FRAMES_HEADER,
    LABELS_CSV,
    LABELS_HEADER,
    PREDICTIONS_JSONL,
    SEGMENTS_DIR,
    SessionError,
    SessionInfo,
    csv_line,
    write_info,
)

logger = logging.getLogger(__name__)

#: Stop recording when less than this is free on the session's disk (the join at stop needs room too).
DEFAULT_MIN_FREE_BYTES = 200 * 1000**2


def write_failure(exc: OSError, file: Path) -> str:
    """The one-line message for a failed write of `file`: disk full gets its own wording."""
    kept = "recording stopped, the part recorded so far is kept"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing {file}: {kept}; free some space and record again"
    return f"cannot write {file} ({exc.strerror or exc}): {kept}"


def low_space(path: Path, min_free_bytes: int) -> str | None:
    """Why recording into `path` must stop (one line), when its disk has less than `min_free_bytes` free."""
    free = shutil.disk_usage(path).free
    if free >= min_free_bytes:
        return None
    return (f"disk almost full: {format_bytes(free)} free for {path} (the recorder stops under "
            f"{format_bytes(min_free_bytes)}); recording stopped, the part recorded so far is kept - free some "
            "space and record again")


def check_labels(labels: Sequence[str]) -> list[str]:
    """The label set, stripped; SessionError for an empty or repeated label."""
    out = [str(label).strip() for label in labels]
    if any(not label for label in out):
        raise SessionError("a label in the label set is empty: remove it or give it a name")
    dupes = sorted({label for label in out if out.count(label) > 1})
    if dupes:
        raise SessionError(f"the label set names {', '.join(dupes)} twice: each label must be unique")
    return out


def create_session(root: Path | str, *, name: str, labels: Sequence[str], source: str, fps: float, width: int,
                   height: int, model: str, weights: str | None, program_version: str, segment_seconds: float,
                   min_free_bytes: int) -> SessionInfo:
    """Create and return a new session (folder, empty files, session.json) under `root`.

    SessionError for an empty name, a bad label set, an unwritable root or a disk already below
    `min_free_bytes`; ValueError for non-positive fps, size or segment length.
    """
    if not name or not name.strip():
        raise SessionError("the session name is empty: give the session a name")
    labels = check_labels(labels)
    if not (fps > 0 and width > 0 and height > 0):
        raise ValueError(f"fps, width and height must be positive, got {fps}, {width}, {height}")
    if segment_seconds <= 0:
        raise ValueError("segment_seconds and queue_seconds must be positive")
    root = Path(root).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SessionError(f"cannot create the sessions folder {root} ({exc.strerror}): choose another "
                           f"folder or set SLOWFAST_SESSIONS") from None
    free = shutil.disk_usage(root).free
    if free < min_free_bytes:
        raise SessionError(f"only {format_bytes(free)} free on the disk of {root} (need at least "
                           f"{format_bytes(min_free_bytes)}): free some space before recording")
    now = datetime.now().astimezone()
    path = _new_folder(root, f"{now:%Y%m%d-%H%M%S}_{slugify(name)}")
    pid, pid_started = process_identity()
    info = SessionInfo(
        name=name.strip(), labels=labels, source=source, fps=float(fps), width=int(width), height=int(height),
        model=model, weights=weights, program_version=program_version,
        start_time=now.isoformat(timespec="milliseconds"), state="recording",
        segment_seconds=float(segment_seconds), pid=pid, pid_started=pid_started, path=path,
    )
    try:
        (path / SEGMENTS_DIR).mkdir()
        (path / FRAMES_CSV).write_text(csv_line(list(FRAMES_HEADER)), encoding="utf-8")
        (path / LABELS_CSV).write_text(csv_line(list(LABELS_HEADER)), encoding="utf-8")
        (path / PREDICTIONS_JSONL).touch()
        write_info(info)
    except OSError as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise SessionError(f"cannot write the session folder {path} ({exc.strerror}): check free space "
                           "and permissions") from None
    return info


def _new_folder(root: Path, base: str) -> Path:
    """Create and return a fresh folder `root/base` (with -2, -3, … appended when taken)."""
    for k in range(1, 1000):
        path = root / (base if k == 1 else f"{base}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise SessionError(f"cannot create the session folder {path} ({exc.strerror}): check free space "
                               "and permissions") from None
        return path
    raise SessionError(f"too many sessions named {base} in {root}: choose another name")


def process_identity() -> tuple[int, float | None]:
    """This process's pid and start time, so that a later reader can tell whether it is still alive."""
    pid = os.getpid()
    try:
        import psutil

        return pid, psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001 - psutil missing or restricted: the pid alone still helps
        return pid, None


def process_alive(pid: int | None, started: float | None) -> bool:
    """True when process `pid` (started at `started`, psutil's create_time) is still running."""
    if pid is None:
        return False
    try:
        import psutil

        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 1.0:
            return False  # the pid was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied, psutil missing
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
