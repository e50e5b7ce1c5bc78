"""What kind of file a path is, so that every reader refuses what it must not open.

Opening a named pipe for reading blocks until a writer appears (forever, with Ctrl-C ignored inside
OpenCV or FFmpeg), reading a device such as /dev/zero never ends, and a folder is not a file. The video,
checkpoint and session readers ask `not_regular` first and say in one line what the path is instead.
`slugify` makes the one file-name-safe form of a name (sessions, exported clips, taught models, synthetic data).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path


def kind_of(mode: int) -> str:
    """What a file with `st_mode` `mode` is, in a few words ("a regular file", "a named pipe", ...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def not_regular(path: str | os.PathLike[str]) -> str | None:
    """None when `path` is a regular file (after following links); else what it is: "missing", "a named
    pipe", "a folder", "a character device", ..., or "unreadable (reason)". Never opens the path."""
    try:
        mode = os.stat(Path(path)).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return None if stat.S_ISREG(mode) else kind_of(mode)


def is_character_device(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a character device (what a V4L2 camera such as /dev/video0 is)."""
    try:
        return stat.S_ISCHR(os.stat(Path(path)).st_mode)
    except OSError:
        return False


def slugify(name: str, *, max_len: int = 48) -> str:
    """A file-name-safe form of `name`: letters, digits, '-', '_' and '.' (no spaces: CSV paths are
    space-separated in the PySlowFast convention)."""
    slug = re.sub(r"[^\w.-]+", "_", name.strip(), flags=re.UNICODE).strip("._")
    return slug[:max_len] or "session"
