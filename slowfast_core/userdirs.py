"""Where the program keeps a person's data (sessions, taught models, per-machine choices), on every platform.

One place for the platform rules, so sessions, My models and Auto quality agree on the folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: overrides the whole data folder (tests, portable installs)
DATA_ENV = "SLOWFAST_DATA_DIR"
#: overrides where sessions live
ENV_ROOT = "SLOWFAST_SESSIONS"


def data_dir() -> Path:
    """$SLOWFAST_DATA_DIR, else the platform's user data folder + slowfast-live: $XDG_DATA_HOME (or
    ~/.local/share) on Linux, %LOCALAPPDATA% on Windows, ~/Library/Application Support on macOS."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "slowfast-live"


def default_root() -> Path:
    """Where sessions live unless told otherwise: $SLOWFAST_SESSIONS, else `sessions` in the user data folder
    (~/.local/share/slowfast-live/sessions on Linux, honouring $XDG_DATA_HOME)."""
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env).expanduser()
    return data_dir() / "sessions"
