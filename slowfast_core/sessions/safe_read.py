"""Reading a session's files without trusting them: regular files only, bounded sizes, torn last lines.

Only regular files are opened (a FIFO would block the reader forever), and only up to a size limit; undecodable
bytes become U+FFFD. `Skips` gathers the rows a table reader skipped into one `Problem`. Shared by the session
readers (info_reader.py, tables.py, reader.py) and repair.
"""

from __future__ import annotations

from pathlib import Path

from slowfast_core.files import not_regular
from slowfast_core.sessions.layout import Problem

#: Largest session.json read (a real one is < 2 kB).
MAX_INFO_BYTES = 1 << 20
#: Largest labels.csv, frames.csv or predictions.jsonl read (a 10-hour session is ~30 MB).
MAX_TABLE_BYTES = 1 << 30
#: Up to this many skipped rows are named in a problem's text; the rest are counted.
EXAMPLES = 3
BACKUP_NOTE = "keeping the original in repair-backup/"


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


class Skips:
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

