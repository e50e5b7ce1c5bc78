"""`slowfast bench model|pipeline|soak|...`: measured speed, reported as ratios against a reference from the same
run, and reliability over a long run with injected faults.

Each bench is a module (`slowfast_core.bench.<name>`; the window's, `app.bench`, lives with the window)
exposing `add_arguments(parser)` and `run(args) -> int`. Only the bench that runs is imported, when it runs:
the other commands, `slowfast bench --help` included, import no bench module, and the runtime packages never do.
"""

from __future__ import annotations

import argparse
import importlib

BENCHES = {
    "model": ("slowfast_core.bench.model", "per-clip latency of every backend vs PyTorchVideo eager"),
    "pipeline": ("slowfast_core.bench.pipeline", "a paced 30 fps source through the real-time engine"),
    "features": ("slowfast_core.bench.features", "what recording each window's feature (for Teach) costs the worker "
                 "and the disk, timed interleaved against the whole model in the backend"),
    "train": ("slowfast_core.bench.train", "clips/s of the loader, feature extraction and a training step"),
    "app": ("app.bench", "the real window offscreen on the demo source: updates/s, end-to-end "
            "latency, frames shown/s, event-loop gaps, time to the first overlay, what Auto chose"),
    "teach": ("slowfast_core.bench.teach", "record -> teach -> recognise end to end on synthetic actions: agreement "
              "with the script and seconds to a taught model"),
    "detect": ("slowfast_core.bench.detect", "who is doing what end to end on synthetic actors: per-person agreement "
               "with the script, identity switches, frame-mAP@0.5, the RoI head's cost with 1 and 3 people"),
    "soak": ("slowfast_core.bench.soak", "a long run (memory, drops, open files, threads), then injected faults "
             "(camera stall and loss, full disk, SIGKILL) and what each loses"),
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench BENCH [ARGS...]`; BENCH's own arguments are parsed by `run`, once its module is imported."""
    listing = "\n".join(f"  {name:<10} {text}" for name, (_, text) in BENCHES.items())
    p = sub.add_parser("bench", help="benchmarks: model latency per backend, real-time pipeline metrics",
                       description=f"benchmarks:\n{listing}", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench", nargs="?", choices=list(BENCHES), metavar="BENCH", help="which benchmark (listed above)")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="its arguments: slowfast bench BENCH --help")
    p.set_defaults(func=lambda args: run(args, p))


def bench_parser(name: str) -> argparse.ArgumentParser | None:
    """The parser of bench `name` with its module's arguments, `run` as its func; None when the module (an
    optional one, like the window's) is not installed."""
    module_name, help_text = BENCHES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        return None
    parser = argparse.ArgumentParser(prog=f"slowfast bench {name}", description=help_text)
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)
    return parser


def run(args: argparse.Namespace, bench: argparse.ArgumentParser) -> int:
    """Import the chosen bench only now, parse its arguments and run it."""
    if args.bench is None:
        bench.print_help()
        return 1
    parser = bench_parser(args.bench)
    if parser is None:
        bench.error(f"bench {args.bench!r} is not installed here")
    inner = parser.parse_args(args.bench_args)
    inner.verbose = getattr(args, "verbose", False)
    return int(inner.func(inner) or 0)
