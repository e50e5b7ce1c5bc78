"""`slowfast cache info|clear`: the converted-model cache (OpenVINO IRs and compiled blobs), shown or emptied.

The cache lives in $SLOWFAST_CACHE_DIR (default ~/.cache/slowfast-live) and is bounded by
$SLOWFAST_CACHE_MAX_MB (default 2048): least recently used models are removed first (see
slowfast_core.backends.cache). Downloaded weights are elsewhere (torch's hub cache; `slowfast weights list`).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

MIB = 2**20


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `cache` subcommand with its `info` and `clear` actions."""
    p = sub.add_parser("cache", help="show or empty the converted-model cache (OpenVINO)")
    actions = p.add_subparsers(dest="cache_action", metavar="ACTION")
    info = actions.add_parser("info", help="where the cache is, its limit, and each cached model (size, last use)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)
    clear = actions.add_parser("clear", help="remove every cached model (the next start converts again)")
    clear.set_defaults(func=run_clear)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    """`slowfast cache` without an action: show its help, exit 1 like the top-level command."""
    parser.print_help()
    return 1


def describe() -> dict[str, Any]:
    """The cache as data: folder, limit, total size and the entries, least recently used first."""
    from slowfast_core.backends import cache

    root = cache.slowfast_cache_dir()
    rows = []
    for kind in cache.KINDS:
        for entry in cache.entries(cache.kind_dir(kind, root)):
            rows.append({"kind": kind, "name": entry.name, "path": str(entry.path), "bytes": entry.size,
                         "last_used": entry.last_used})
    return {"dir": str(root), "limit_bytes": cache.max_bytes(), "total_bytes": sum(r["bytes"] for r in rows),
            "entries": rows}


def run_info(args: argparse.Namespace) -> int:
    """Print the cache's folder, limit, use and entries."""
    from slowfast_core.backends import cache

    data = describe()
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"model cache: {data['dir']}  (set {cache.CACHE_ENV} to move it)")
    print(f"limit: {data['limit_bytes'] / MIB:.0f} MiB  (set {cache.MAX_MB_ENV}; least recently used models go first)")
    print(f"used: {data['total_bytes'] / MIB:.1f} MiB in {len(data['entries'])} model(s)")
    for row in data["entries"]:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["last_used"]))
        print(f"  {row['kind']}/{row['name']}  {row['bytes'] / MIB:.1f} MiB  last used {when}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    """Remove every cached model and say how much space that freed."""
    from slowfast_core.backends import cache

    count, freed = cache.clear()
    print(f"removed {count} cached model(s), {freed / MIB:.1f} MiB, from {cache.slowfast_cache_dir()}")
    return 0
