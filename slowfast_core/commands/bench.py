"""`slowfast bench model|pipeline|soak`: measured speed, reported as ratios against a reference from the same
run, and reliability over a long run with injected faults.

Each bench is a module of slowfast_core.bench (`model`, `pipeline`, `soak`, `train`, `app`: the window, `teach`)
exposing `add_arguments(parser)` and `run(args) -> int`; the runtime packages never import them.
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
    "app": ("slowfast_core.bench.app", "the real window offscreen on the demo source: updates/s, end-to-end "
            "latency, frames shown/s, event-loop gaps, time to the first overlay, what Auto chose"),
    "teach": ("slowfast_core.bench.teach", "record -> teach -> recognise end to end on synthetic actions: agreement "
              "with the script and seconds to a taught model"),
    "detect": ("slowfast_core.bench.detect", "who is doing what end to end on synthetic actors: per-person agreement "
               "with the script, identity switches, frame-mAP@0.5, the RoI head's cost with 1 and 3 people"),
    "soak": ("slowfast_core.bench.soak", "a long run (memory, drops, open files, threads), then injected faults "
             "(camera stall and loss, full disk, SIGKILL) and what each loses"),
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench` with one sub-subcommand per benchmark that is importable."""
    p = sub.add_parser("bench", help="benchmarks: model latency per backend, real-time pipeline metrics")
    bench_sub = p.add_subparsers(dest="bench", metavar="BENCH")
    for name, (module_name, help_text) in BENCHES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        bp = bench_sub.add_parser(name, help=help_text)
        module.add_arguments(bp)
        bp.set_defaults(func=module.run)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])
