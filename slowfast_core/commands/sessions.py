"""`slowfast sessions`: list recorded sessions, repair unfinished ones, export them as a clips dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sessions` subcommand with its `list`, `export` and `repair` actions."""
    p = sub.add_parser("sessions", help="list, repair and export recorded labeled sessions")
    actions = p.add_subparsers(dest="sessions_action", metavar="ACTION")
    root_help = "sessions folder (default: $SLOWFAST_SESSIONS or ~/.local/share/slowfast-live/sessions)"

    ls = actions.add_parser("list", help="the recorded sessions: name, start, length, labels, state")
    ls.add_argument("--root", type=Path, default=None, help=root_help)
    ls.add_argument("--json", action="store_true", help="print one JSON object per session, one per line")
    ls.set_defaults(func=run_list)

    ex = actions.add_parser("export", help="cut one clip per labeled segment + CSV (`path label_id`) + label map")
    ex.add_argument("sessions", nargs="*", metavar="SESSION",
                    help="session folder names, paths or names (default: every finished session)")
    ex.add_argument("--out", type=Path, required=True, help="folder to write the dataset into")
    ex.add_argument("--root", type=Path, default=None, help=root_help)
    ex.add_argument("--csv-name", default="train.csv", help="name of the CSV (default: %(default)s)")
    ex.add_argument("--force", action="store_true", help="write into a folder that already holds an export")
    ex.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    ex.set_defaults(func=run_export)

    rp = actions.add_parser("repair", help="salvage sessions whose recording never finished (crash, kill, full disk)")
    rp.add_argument("sessions", nargs="*", metavar="SESSION", help="sessions to repair (default: every unfinished one)")
    rp.add_argument("--root", type=Path, default=None, help=root_help)
    rp.set_defaults(func=run_repair)

    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    """`slowfast sessions` without an action: show its help, exit 1 like the top-level command."""
    parser.print_help()
    return 1


def _root(args: argparse.Namespace) -> Path:
    """The sessions folder the command works on."""
    from slowfast_core.sessions import default_root

    return args.root.expanduser() if args.root is not None else default_root()


def run_list(args: argparse.Namespace) -> int:
    """Print the sessions under the root, oldest first (a table, or JSON lines with --json)."""
    from slowfast_core.sessions.layout import read_labels
    from slowfast_core.sessions.store import list_sessions

    root = _root(args)
    infos = list_sessions(root)
    rows = []
    for info in infos:
        segments = read_labels(info.path)
        rows.append({
            "folder": info.folder, "name": info.name, "start_time": info.start_time, "state": info.state,
            "duration": info.duration, "frames": info.frames, "fps": info.fps,
            "resolution": f"{info.width}x{info.height}", "labels": info.labels,
            "labeled_segments": len(segments), "labeled_seconds": round(sum(s.duration for s in segments), 3),
            "model": info.model, "source": info.source, "error": info.error, "path": str(info.path),
        })
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no sessions in {root}", file=sys.stderr)
        return 0
    folder_w = max(len("FOLDER"), *(len(r["folder"]) for r in rows))
    print(f"{'FOLDER':<{folder_w}}  {'STARTED':<19}  {'LENGTH':>7}  {'RES':>9}  {'LABELED':>7}  STATE")
    for r in rows:
        started = r["start_time"][:19].replace("T", " ")
        state = r["state"] + (" (run `slowfast sessions repair`)" if r["state"] == "recording" else "")
        print(f"{r['folder']:<{folder_w}}  {started:<19}  {r['duration']:6.1f}s  {r['resolution']:>9}  "
              f"{r['labeled_segments']:>7}  {state}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export the named sessions (or every finished one) and print where the dataset went."""
    from slowfast_core.progress import ProgressBar
    from slowfast_core.sessions.export import export_dataset
    from slowfast_core.sessions.layout import SessionError
    from slowfast_core.sessions.store import list_sessions, load_session, resolve_session

    root = _root(args)
    if args.sessions:
        paths = [resolve_session(ref, root) for ref in args.sessions]
    else:
        infos = list_sessions(root)
        for info in infos:
            if info.unfinished:
                print(f"skipping unfinished session {info.folder} (run `slowfast sessions repair`)", file=sys.stderr)
        paths = [i.path for i in infos if not i.unfinished]
        if not paths:
            raise SessionError(f"no finished sessions in {root}: record one first or pass --root")
    sessions = [load_session(p) for p in paths]
    total = sum(len(s.labels) for s in sessions)
    with ProgressBar(total=total, desc="export", unit="clips", enabled=args.progress) as bar:
        def progress(done: int, total: int, what: str) -> None:
            bar.update(1)

        report = export_dataset(sessions, args.out, progress=progress, csv_name=args.csv_name,
                                overwrite=args.force)
    for line in report.skipped:
        print(f"skipped {line}", file=sys.stderr)
    print(f"exported {len(report.clips)} clips of {len(report.label_map)} labels from {len(sessions)} sessions "
          f"to {report.out_dir}: {report.csv_path.name}, {report.label_map_path.name}")
    return 0


def run_repair(args: argparse.Namespace) -> int:
    """Repair the named sessions (or every unfinished one) and print what each kept."""
    from slowfast_core.sessions.repair import repair_session
    from slowfast_core.sessions.store import find_unfinished, resolve_session

    root = _root(args)
    paths = [resolve_session(ref, root) for ref in args.sessions] if args.sessions \
        else [i.path for i in find_unfinished(root)]
    if not paths:
        print(f"no unfinished sessions in {root}", file=sys.stderr)
        return 0
    for path in paths:
        print(repair_session(path).summary())
    return 0
