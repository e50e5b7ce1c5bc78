"""`slowfast teach SESSION... --name NAME`: teach a classifier for the actions marked in sessions, save it in
My models (`--weights NAME` everywhere then). The same engine as Record -> Teach... in the window
(`slowfast_core.train.teach`, run by `train.teach_child.teach`); every bad input is one `slowfast: error:` line
and exit 2, nothing changed."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `teach` subcommand."""
    p = sub.add_parser("teach", help="teach a classifier for the actions marked in recorded sessions")
    p.add_argument("sessions", nargs="*", metavar="SESSION",
                   help="session names or folders (default: every session with labels)")
    p.add_argument("--name", required=True, help="name of the taught model (then: --weights NAME)")
    p.add_argument("--base", help="base model: weights name, checkpoint or My models name (default: the one "
                                  "the sessions were recorded with)")
    p.add_argument("--no-background", dest="background", action="store_false",
                   help="no `no action` class from the time outside the labeled segments")
    p.add_argument("--train", choices=("head", "last"), default="head",
                   help="head: the classifier on the features (seconds); last: res5 + head (minutes)")
    p.add_argument("--size", type=int, default=0, help="input short side of the base model (default: its own)")
    p.add_argument("--replace", action="store_true", help="overwrite a taught model of the same name")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan, train, save; say what was taught and how well it did on held-out segments."""
    from slowfast_core.sessions.store import resolve_session
    from slowfast_core.train.teach import TeachError, TeachResult, sessions_with_labels
    from slowfast_core.train.teach_child import teach
    from slowfast_core.weights.my_models import find_my_model, save_my_model, slug

    slug(args.name)  # an empty name fails before any work
    if find_my_model(args.name) is not None and not args.replace:
        raise TeachError(f"a taught model named {args.name!r} exists already: choose another --name or add --replace")
    folders = [resolve_session(ref) for ref in args.sessions] or sessions_with_labels()

    def say(event: dict) -> None:
        if args.json:
            return
        if event["event"] == "plan":
            counts = ", ".join(f"{k} {v}" for k, v in event["counts"].items())
            print(f"teach: {len(event['sessions'])} session(s), examples: {counts}; base {event['base']}; "
                  f"{event['recorded']} recorded features, {event['to_compute']} to compute", file=sys.stderr)
            for note in event["notes"]:
                print(f"teach: note: {note}", file=sys.stderr)
        elif event["event"] == "progress" and event["done"] in (1, event["total"]):
            print(f"teach: {event['what']} {event['done']}/{event['total']}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="slowfast-teach-") as tmp:
        result = teach(folders, base_spec=args.base, out=Path(tmp), background=args.background, mode=args.train,
                       on_event=say, size=args.size)
        assert isinstance(result, TeachResult)
        saved = save_my_model(result.model_path, args.name, {
            "labels": result.categories, "base": result.base, "val_top1": result.val_top1,
            "sessions": [str(f) for f in folders], "train": args.train}, replace=args.replace)
    if args.json:
        print(json.dumps({**result.to_json(), "model": str(saved.path), "name": saved.name}, indent=1))
    else:
        acc = "no held-out segment" if result.val_top1 is None else f"held-out top-1 {result.val_top1:.1%}"
        per = ", ".join(f"{k} {v:.0%}" for k, v in result.per_label.items() if v is not None)
        print(f"taught {saved.name!r}: {', '.join(result.categories)}; {acc}" + (f" ({per})" if per else "") +
              f"; {result.seconds:.1f} s. Saved {saved.path}: use it with --weights {saved.name!r}")
    return 0
