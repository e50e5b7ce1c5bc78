"""`slowfast sessions`: list recorded sessions, repair unfinished ones, export them as a clips dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slowfast_core.sessions.layout import SessionInfo


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sessions` subcommand with its `list`, `export` and `repair` actions."""
    p = sub.add_parser("sessions", help="list, repair and export recorded labeled sessions")
    actions = p.add_subparsers(dest="sessions_action", metavar="ACTION")
    root_help = "sessions folder (default: $SLOWFAST_SESSIONS or ~/.local/share/slowfast-live/sessions)"

    ls = actions.add_parser("list", help="the recorded sessions: name, start, length, labels, state")
    ls.add_argument("--root", type=Path, default=None, help=root_help)
    ls.add_argument("--json", action="store_true", help="print one JSON object per session, one per line")
    ls.add_argument("--check", action="store_true",
                    help="also read every row of frames.csv and predictions.jsonl and the video's index (slower)")
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

    rp = actions.add_parser("repair", help="salvage sessions whose recording never finished (crash, kill, full "
                            "disk) or whose files are damaged; the rewritten files' originals go to repair-backup/")
    rp.add_argument("sessions", nargs="*", metavar="SESSION",
                    help="sessions to repair (default: every unfinished or damaged one that repair can fix)")
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
    """Print the sessions under the root, oldest first (a table, or JSON lines with --json). A damaged session
    is listed with what is wrong with it, never skipped and never in the way of the others."""
    from slowfast_core.sessions.tables import read_labels_checked
    from slowfast_core.sessions.store import list_sessions

    root = _root(args)
    infos = list_sessions(root, check=args.check)
    rows = []
    for info in infos:
        segments = read_labels_checked(info.path)[0]
        rows.append({
            "folder": info.folder, "name": info.name, "start_time": info.start_time, "state": info.state,
            "damaged": info.damaged, "duration": info.duration, "frames": info.frames, "fps": info.fps,
            "resolution": f"{info.width}x{info.height}", "labels": info.labels,
            "labeled_segments": len(segments), "labeled_seconds": round(sum(s.duration for s in segments), 3),
            "model": info.model, "source": info.source, "error": info.error, "path": str(info.path),
            "problems": [{"file": p.file, "what": p.what, "repair": p.repair} for p in info.problems],
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
    for r, info in zip(rows, infos):
        started = r["start_time"][:19].replace("T", " ")
        print(f"{r['folder']:<{folder_w}}  {started:<19}  {r['duration']:6.1f}s  {r['resolution']:>9}  "
              f"{r['labeled_segments']:>7}  {state_text(info)}")
        for problem in info.problems:
            print(f"    {problem}")
    return 0


def state_text(info: "SessionInfo") -> str:
    """The STATE column: the state, what is wrong, and what to run."""
    fixable = any(p.repair for p in info.problems)
    if info.unfinished:
        return "recording (run `slowfast sessions repair`)" + (", damaged" if info.damaged else "")
    if info.damaged:
        return f"{info.state}, damaged" + (" (run `slowfast sessions repair`)" if fixable else "")
    return info.state


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
    sessions = [load_session(p) for p in paths]  # unfinished ones named on the command line are skipped below
    total = sum(len(s.labels) for s in sessions)
    with ProgressBar(total=total, desc="export", unit="clips", enabled=args.progress) as bar:
        def progress(done: int, total: int, what: str) -> None:
            bar.update(1)

        report = export_dataset(sessions, args.out, progress=progress, csv_name=args.csv_name,
                                overwrite=args.force)
    for line in report.skipped:
        print(f"skipped {line}", file=sys.stderr)
    used = len(report.sessions)
    print(f"exported {len(report.clips)} clips of {len(report.label_map)} labels from {used} session"
          f"{'s' if used != 1 else ''} to {report.out_dir}: {report.csv_path.name}, {report.label_map_path.name}"
          + (f" ({len(report.skipped)} skipped, listed above)" if report.skipped else ""))
    return 0


def run_repair(args: argparse.Namespace) -> int:
    """Repair the named sessions (or every unfinished or repairable damaged one) and print what each kept;
    one that cannot be repaired (still recording, say) is reported and the others are still repaired.
    Exit status 2 when one could not be repaired at all, 1 when problems are left that repair cannot fix."""
    from slowfast_core.errors import SlowFastError
    from slowfast_core.sessions.repair import repair_session
    from slowfast_core.sessions.store import find_repairable, resolve_session

    root = _root(args)
    paths = [resolve_session(ref, root) for ref in args.sessions] if args.sessions \
        else [i.path for i in find_repairable(root)]
    if not paths:
        print(f"no unfinished sessions (and no damaged ones repair can fix) in {root}", file=sys.stderr)
        return 0
    failed = unfixed = 0
    for path in paths:
        try:
            report = repair_session(path)
        except SlowFastError as exc:
            failed += 1
            print(f"slowfast: error: {exc}", file=sys.stderr)
            continue
        print(report.summary())
        unfixed += bool(report.left)
    return 2 if failed else (1 if unfixed else 0)
