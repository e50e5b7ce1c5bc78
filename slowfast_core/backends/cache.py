"""The converted-model cache on disk: one folder per entry, least-recently-used eviction under a size limit.

Layout (under `slowfast_cache_dir()`, i.e. $SLOWFAST_CACHE_DIR or ~/.cache/slowfast-live):

    openvino/<arch>-<key>/      one entry: model.xml + model.bin (the converted IR) and blobs/ (OpenVINO's
                                compiled blob for each input shape it was compiled for)
    openvino/.tmp-*/            a conversion in progress (renamed into place when done; stale ones are removed)
    openvino-int8/<arch>-<key>-<calibration>/   an int8 IR (NNCF, `slowfast quantize`), its agreement guard's
                                verdict (guard.json) and blobs/
    openvino-detect/<detector>-<key>/   a torchvision person detector's IR (detect.openvino_detector)

An entry's last use is its folder's modification time, set each time a backend opens it. After every
conversion or compilation the least recently used entries are removed until the cache fits the limit
($SLOWFAST_CACHE_MAX_MB, default `DEFAULT_MAX_MB`); the entry being opened is never removed by its own user,
so a limit of 0 keeps just the model in use. `slowfast cache info|clear` shows and empties it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from slowfast_core.backends.base import CACHE_ENV, slowfast_cache_dir  # noqa: F401 - CACHE_ENV: for `slowfast cache info`
from slowfast_core.errors import ConfigError

logger = logging.getLogger(__name__)

MAX_MB_ENV = "SLOWFAST_CACHE_MAX_MB"
#: default size limit: about seven slowfast_8x8_r50 entries (IR ~136 MB + one compiled shape ~140 MB each)
DEFAULT_MAX_MB = 2048
#: prefix of a conversion in progress; one older than `STALE_TMP_S` was left by a killed process
TMP_PREFIX = ".tmp-"
STALE_TMP_S = 3600.0
#: the cache's subfolders that hold entries
KINDS: tuple[str, ...] = ("openvino", "openvino-int8", "openvino-detect")


@dataclass(frozen=True)
class CacheEntry:
    """One cached model: its folder (or a stray file), size on disk and last use (seconds since the epoch)."""

    path: Path
    size: int
    last_used: float

    @property
    def name(self) -> str:
        return self.path.name


def max_bytes() -> int:
    """The size limit in bytes: $SLOWFAST_CACHE_MAX_MB (a number of MiB, >= 0), else `DEFAULT_MAX_MB`."""
    env = os.environ.get(MAX_MB_ENV)
    if env is None or not env.strip():
        return DEFAULT_MAX_MB * 2**20
    try:
        mb = float(env)
    except ValueError:
        raise ConfigError(f"{MAX_MB_ENV}={env!r} is not a number: set it to the cache limit in MiB, e.g. 2048") from None
    if not mb >= 0 or mb == float("inf"):
        raise ConfigError(f"{MAX_MB_ENV}={env!r} must be a size in MiB, 0 or more")
    return int(mb * 2**20)


def kind_dir(kind: str = "openvino", root: Path | None = None) -> Path:
    """The folder holding the entries of one kind, e.g. ~/.cache/slowfast-live/openvino."""
    return (root or slowfast_cache_dir()) / kind


def _size(path: Path) -> int:
    """Bytes on disk of a file or a folder tree (files that vanish meanwhile count as 0)."""
    if not path.is_dir() or path.is_symlink():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def entries(folder: Path) -> list[CacheEntry]:
    """The entries in `folder` (one kind's folder), least recently used first; conversions in progress excluded."""
    out = []
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    for child in children:
        if child.name.startswith(TMP_PREFIX):
            continue
        try:
            last_used = child.lstat().st_mtime
        except OSError:
            continue  # removed meanwhile
        out.append(CacheEntry(child, _size(child), last_used))
    return sorted(out, key=lambda e: (e.last_used, e.name))


def touch(entry: Path) -> None:
    """Mark `entry` as used now (its folder's modification time); a read-only cache is left as it is."""
    try:
        os.utime(entry)
    except OSError:
        pass


def remove(path: Path) -> bool:
    """Delete an entry (folder or file); False when it could not be removed."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return True
    except OSError as exc:
        logger.warning("could not remove cached model %s: %s", path, exc)
        return False
    return True


def remove_stale_tmp(folder: Path, *, older_than_s: float = STALE_TMP_S) -> None:
    """Remove conversions in progress that a killed process left behind (older than `older_than_s`)."""
    now = time.time()
    try:
        children = list(folder.glob(f"{TMP_PREFIX}*"))
    except OSError:
        return
    for child in children:
        try:
            if now - child.lstat().st_mtime > older_than_s:
                remove(child)
        except OSError:
            pass


def enforce_limit(folder: Path, *, keep: Path | None = None, limit: int | None = None) -> list[CacheEntry]:
    """Remove least-recently-used entries of `folder` until it fits `limit` bytes (default `max_bytes()`).

    `keep` (the entry its caller is using) is never removed. Returns the entries removed.
    """
    limit = max_bytes() if limit is None else limit
    remove_stale_tmp(folder)
    current = entries(folder)
    total = sum(e.size for e in current)
    removed = []
    for entry in current:
        if total <= limit:
            break
        if keep is not None and entry.path == keep:
            continue
        if remove(entry.path):
            total -= entry.size
            removed.append(entry)
    if removed:
        logger.info("model cache over its %d MiB limit: removed %s (least recently used)", limit // 2**20,
                 ", ".join(e.name for e in removed))
    return removed


def clear(root: Path | None = None) -> tuple[int, int]:
    """Remove every cached model and stale leftovers. Returns (entries removed, bytes freed).

    Models in use by a running program stay usable: their weights are already in memory (or mapped).
    """
    count = freed = 0
    for kind in KINDS:
        folder = kind_dir(kind, root)
        for entry in entries(folder):
            if remove(entry.path):
                count += 1
                freed += entry.size
        remove_stale_tmp(folder)  # a conversion running now (another process) finishes into its own entry
    return count, freed
