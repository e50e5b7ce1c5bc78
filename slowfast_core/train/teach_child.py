"""Teach, step 3: the teaching child process the window runs (`python -m slowfast_core.train.teach_child`).

It plans and runs a teach (`teach`, also the CLI's body) and prints one JSON object per line on stdout (plan,
progress, metrics, result or error); with `--stdin` it starts warm and waits for its job. See `train.teach`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from slowfast_core.errors import SlowFastError
from slowfast_core.train.teach import (
    Event,
    EventFn,
    TeachPlan,
    TeachResult,
    default_base,
    load_base,
    plan_teach,
    sessions_with_labels,
)
from slowfast_core.train.teach_run import run_teach, run_teach_last

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m slowfast_core.train.teach_child",
                                description="Teach a classifier from sessions; JSON lines on stdout.")
    p.add_argument("sessions", nargs="*", help="session folders (default: every session with labels)")
    p.add_argument("--base", help="base model: weights name, checkpoint or My models name (default: the sessions')")
    p.add_argument("--out", help="folder for the taught model and its report (required)")
    p.add_argument("--no-background", dest="background", action="store_false")
    p.add_argument("--train", choices=("head", "last"), default="head")
    p.add_argument("--epochs", type=int, default=5, help="epochs for --train last")
    p.add_argument("--size", type=int, default=0, help="input short side of the base model (0: its own)")
    p.add_argument("--plan-only", action="store_true", help="print the plan and stop")
    p.add_argument("--stdin", action="store_true",
                   help="warm start: import everything, print a 'ready' event, then read the arguments as one "
                        "JSON list on stdin (the window starts this child when its Teach dialog opens)")
    return p


def job_arguments(args: argparse.Namespace, emit: EventFn) -> argparse.Namespace | None:
    """The arguments to run: the command line's, or with `--stdin` the JSON list that arrives on stdin.

    A warm child has paid for importing torch and the model code before it says `ready`; it then blocks on
    stdin. None when stdin closes first (the window was closed or chose not to teach): exit quietly.
    """
    if args.stdin:
        emit({"event": "ready"})
        line = sys.stdin.readline()
        if not line.strip():
            return None
        args = parser().parse_args([str(a) for a in json.loads(line)])
    if not args.out:
        parser().error("--out is required")
    return args


def teach(folders: Sequence[Path], *, base_spec: str | None, out: Path, background: bool = True,
          mode: str = "head", on_event: EventFn | None = None, plan_only: bool = False,
          epochs: int = 5, size: int = 0, backend: str = "auto") -> TeachResult | TeachPlan:
    """Plan and run a teach (the child's and the CLI's body); returns the plan alone with `plan_only`."""
    emit = on_event or (lambda e: None)
    spec = base_spec or default_base(folders)
    base = load_base(spec, size=size)
    spec = spec or base.config.name
    plan = plan_teach(folders, base, base_spec=spec, background=background)
    emit({"event": "plan", **plan.summary()})
    if plan_only:
        return plan
    if mode == "last":
        return run_teach_last(plan, spec, out, on_event=emit, epochs=epochs)
    return run_teach(plan, base, out, on_event=emit, backend=backend)


#: the exit code of a warm child whose stdin closed before any job came
NO_JOB = -1


def main(argv: Sequence[str] | None = None) -> int:
    """The child process: JSON lines on stdout, exit 0 (result), 2 (a user mistake, one line) or 1 (a crash);
    NO_JOB when a warm child's stdin closed before its job came."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="teach: %(levelname)s: %(message)s")
    def emit(event: Event) -> None:
        print(json.dumps(event, allow_nan=False, default=str), flush=True)

    args = job_arguments(parser().parse_args(argv), emit)
    if args is None:
        return NO_JOB
    try:
        folders = [Path(p) for p in args.sessions] or sessions_with_labels()
        result = teach(folders, base_spec=args.base, out=Path(args.out), background=args.background,
                       mode=args.train, on_event=emit, plan_only=args.plan_only, epochs=args.epochs,
                       size=args.size)
    except SlowFastError as exc:
        emit({"event": "error", "message": str(exc)})
        return 2
    except Exception as exc:  # noqa: BLE001 - a crash is a message for the window, with its kind
        logger.debug("teach failed", exc_info=True)
        emit({"event": "error", "message": f"teaching failed: {type(exc).__name__}: {exc}"})
        return 1
    if isinstance(result, TeachResult):
        emit({"event": "result", **result.to_json()})
    return 0


def child_main() -> None:
    """The process entry point. A warm child that never got a job has nothing to save: it leaves at once
    (os._exit) instead of tearing down torch and OpenMP, which took over a second on a loaded 2-core machine,
    longer than the window waits before killing it."""
    code = main()
    if code == NO_JOB:
        sys.stdout.flush()
        os._exit(0)
    sys.exit(code)


if __name__ == "__main__":
    child_main()
