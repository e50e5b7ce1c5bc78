"""`slowfast flops`: multiply-adds and parameters of a built model, per clip."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import torch

from slowfast_core.model.config import FUSION_KINDS, arch_names, get_config
from slowfast_core.model.flops import cost_report
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import check_short_side


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `flops` subcommand."""
    p = sub.add_parser("flops", help="count multiply-adds (the paper's FLOPs) and parameters")
    p.add_argument("--arch", default="slowfast_8x8_r50", choices=arch_names(), metavar="NAME",
                   help="architecture (default: %(default)s); one of: " + ", ".join(arch_names()))
    p.add_argument("--size", type=int, default=256, help="spatial input size, square (default: %(default)s)")
    p.add_argument("--beta-inv", type=int, default=None, help="1/beta: Fast channel divisor (default: preset's)")
    p.add_argument("--fusion", choices=FUSION_KINDS, default=None, help="lateral connection kind")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the model and print its cost."""
    check_short_side(args.size, "--size")
    overrides: dict[str, object] = {}
    if args.beta_inv is not None:
        overrides["beta_inv"] = args.beta_inv
    if args.fusion is not None:
        overrides["fusion"] = args.fusion
    config = get_config(args.arch, **overrides)
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        model = SlowFast(config)
    report = cost_report(model, args.size)
    if args.json:
        print(json.dumps({**asdict(report), "beta_inv": config.beta_inv, "fusion": config.fusion}))
    else:
        print(f"{report.arch}  fusion={config.fusion}  beta=1/{config.beta_inv}  {args.size}x{args.size}")
        print(f"  {report.gmacs:.2f} G multiply-adds per clip   {report.mparams:.2f} M parameters")
        print(f"  inputs: {', '.join(str(s) for s in report.inputs)}")
    return 0
