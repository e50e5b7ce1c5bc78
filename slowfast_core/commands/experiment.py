"""`slowfast experiment table5a|table5b|table5 DATA --out DIR`: the paper's Table 5a/5b from scratch, with seeds, at an
equal CPU-time budget and an equal epoch budget (`train.experiment`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `experiment` subcommand."""
    p = sub.add_parser("experiment", help="Table 5a (Slow/Fast/SlowFast) or 5b (beta) with seeds at equal cost")
    p.add_argument("table", choices=("table5a", "table5b", "table5"),
                   help="table5a: pathways; table5b: the Fast width beta; table5: both (five models)")
    p.add_argument("data", help="a dataset (e.g. from `slowfast synth`)")
    p.add_argument("--out", required=True,
                   help="folder for the runs: shared by both tables and by several processes started on it "
                        "(finished runs are reused, running ones left to their process)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per model (default: %(default)s)")
    p.add_argument("--cpu-minutes", type=float, default=2.5,
                   help="equal time: CPU minutes per run, one thread (0: skip; default: %(default)s)")
    p.add_argument("--epochs", type=int, default=15, help="equal epochs per run (0: skip; default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=0, help="clips per step (default: the preset's)")
    p.add_argument("--lr", type=float, default=0.0,
                   help="peak learning rate of every run (default: the preset's); runs at another rate are kept "
                        "in their own folders")
    p.add_argument("--head-lr-mult", type=float, default=1.0, metavar="M",
                   help="every run's classifier learns at M times the rate (README: 0.1 keeps the warm-up from "
                        "diverging); runs at another M are kept in their own folders")
    p.add_argument("--collect", action="store_true", help="summarise the finished runs in --out; train nothing")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run (or continue) the table's runs and print it."""
    from slowfast_core.errors import ConfigError
    from slowfast_core.train.experiment import ExperimentSettings, format_table, run_experiment

    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be at least 1")
    if not Path(args.data).exists():
        raise ConfigError(f"no dataset at {args.data}: make one with `slowfast synth {args.data}`")
    settings = ExperimentSettings(table=args.table, data=args.data, out=args.out, seeds=tuple(range(args.seeds)),
                                  cpu_minutes=args.cpu_minutes, epochs=args.epochs, batch_size=args.batch_size,
                                  lr=args.lr, head_lr_mult=args.head_lr_mult, collect=args.collect)
    summary = run_experiment(settings, say=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_table(summary))
    return 0
