"""`slowfast weights`: list the named pretrained weights, download them into the cache, print their path."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `weights` subcommand with its `list`, `download` and `path` actions."""
    p = sub.add_parser("weights", help="list, download and locate pretrained weights")
    actions = p.add_subparsers(dest="weights_action", metavar="ACTION")

    ls = actions.add_parser("list", help="the named weights: architecture, source, top-1, cached or not")
    ls.add_argument("--json", action="store_true", help="print one JSON object per line")
    ls.set_defaults(func=run_list)

    dl = actions.add_parser("download", help="download named weights into torch's hub cache")
    dl.add_argument("name", help="weights name (see `slowfast weights list`)")
    dl.add_argument("--force", action="store_true", help="download again even when already cached")
    dl.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    dl.set_defaults(func=run_download)

    path = actions.add_parser("path", help="print where named weights are (or would be) cached")
    path.add_argument("name", help="weights name (see `slowfast weights list`)")
    path.set_defaults(func=run_path)

    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    """`slowfast weights` without an action: show its help, exit 1 like the top-level command."""
    parser.print_help()
    return 1


def run_list(args: argparse.Namespace) -> int:
    """Print the registry, one entry per line (a table, or JSON lines with --json)."""
    from slowfast_core.progress import format_bytes
    from slowfast_core.weights.registry import cached_path, list_weights

    rows = []
    for entry in list_weights():
        path = cached_path(entry)
        size = path.stat().st_size if path.is_file() else None
        rows.append({
            "name": entry.name, "arch": entry.arch, "source": entry.source, "format": entry.format,
            "top1": entry.top1, "cached": size is not None, "size_bytes": size, "path": str(path),
            "url": entry.url, "description": entry.description,
        })
    rows += _detection_rows()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    name_w = max(len("NAME"), *(len(r["name"]) for r in rows))
    arch_w = max(len("ARCH"), *(len(r["arch"]) for r in rows))
    print(f"{'NAME':<{name_w}}  {'ARCH':<{arch_w}}  {'SOURCE':<12}  {'TOP-1':>6}  CACHED")
    for r in rows:
        cached = f"yes ({format_bytes(r['size_bytes'])})" if r["cached"] else "no"
        print(f"{r['name']:<{name_w}}  {r['arch']:<{arch_w}}  {r['source']:<12}  {'-' if r['top1'] is None else r['top1']!s:>6}  {cached}")
    return 0


def _detection_rows() -> list[dict[str, object]]:
    """The detection registry's entries (per-person action head, person detectors) as `list` rows."""
    from slowfast_core.weights.detection_registry import cached_detection_path, detection_registry

    rows = []
    for entry in detection_registry().values():
        path = cached_detection_path(entry)
        size = path.stat().st_size if path.is_file() else None
        rows.append({"name": entry.name, "arch": entry.arch,
                     "source": "pytorchvideo" if entry.kind == "actions" else "torchvision", "format": "pth",
                     "top1": None, "cached": size is not None, "size_bytes": size, "path": str(path),
                     "url": entry.url, "description": entry.description})
    return rows


def _detection_entry(name: str):  # noqa: ANN202 - DetectionWeightsEntry | None
    from slowfast_core.weights.detection_registry import detection_registry

    return next((e for e in detection_registry().values() if e.name.upper() == name.strip().upper()), None)


def run_download(args: argparse.Namespace) -> int:
    """Download one entry into the cache (a progress bar on a terminal) and print the file's path."""
    from slowfast_core.weights.registry import cached_path, download_weights, get_weights

    detection = _detection_entry(args.name)
    if detection is not None:  # the detection registry: same cache, same download code
        from slowfast_core.weights.detection_registry import resolve_detection_weights

        print(resolve_detection_weights(detection.name, progress=args.progress).path)
        return 0

    entry = get_weights(args.name)
    if cached_path(entry).is_file() and not args.force:
        print(f"{entry.name} is already cached (use --force to download again)", file=sys.stderr)
    path = download_weights(entry, force=args.force, progress=args.progress)
    print(path)
    return 0


def run_path(args: argparse.Namespace) -> int:
    """Print the cache path of one entry, whether or not it is downloaded yet."""
    from slowfast_core.weights.registry import cached_path, get_weights

    detection = _detection_entry(args.name)
    if detection is not None:
        from slowfast_core.weights.detection_registry import cached_detection_path

        print(cached_detection_path(detection))
        return 0
    print(cached_path(get_weights(args.name)))
    return 0
