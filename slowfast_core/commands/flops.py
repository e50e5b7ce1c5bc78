"""`slowfast flops`: multiply-adds and parameters of a built model, per clip; `--per-pathway`: each pathway's
multiply-adds and share for every preset (the seed's 8:2), laterals counted with Slow as the paper does."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import torch

from slowfast_core.model.config import FUSION_KINDS, PRESETS, SlowFastConfig, arch_names, get_config
from slowfast_core.model.flops import cost_report, pathway_report
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import check_short_side

DEFAULT_ARCH = "slowfast_8x8_r50"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `flops` subcommand."""
    p = sub.add_parser("flops", help="count multiply-adds (the paper's FLOPs) and parameters")
    p.add_argument("--arch", default=None, choices=arch_names(), metavar="NAME",
                   help=f"architecture (default: {DEFAULT_ARCH}; with --per-pathway: every preset); one of: "
                        + ", ".join(arch_names()))
    p.add_argument("--size", type=int, default=None,
                   help="spatial input size, square (default: 256; with --per-pathway: each preset's input size)")
    p.add_argument("--beta-inv", type=int, default=None, help="1/beta: Fast channel divisor (default: preset's)")
    p.add_argument("--fusion", choices=FUSION_KINDS, default=None, help="lateral connection kind")
    p.add_argument("--per-pathway", action="store_true",
                   help="each pathway's multiply-adds and share (laterals with Slow), for every preset")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _config(arch: str, args: argparse.Namespace) -> SlowFastConfig:
    overrides: dict[str, object] = {}
    if args.beta_inv is not None:
        overrides["beta_inv"] = args.beta_inv
    if args.fusion is not None:
        overrides["fusion"] = args.fusion
    return get_config(arch, **overrides)


def _build(config: SlowFastConfig) -> SlowFast:
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        return SlowFast(config)


def run(args: argparse.Namespace) -> int:
    """Build the model(s) and print the cost."""
    if args.size is not None:
        check_short_side(args.size, "--size")
    if args.per_pathway:
        return _per_pathway(args)
    config = _config(args.arch or DEFAULT_ARCH, args)
    size = args.size or 256
    report = cost_report(_build(config), size)
    if args.json:
        print(json.dumps({**asdict(report), "beta_inv": config.beta_inv, "fusion": config.fusion}))
    else:
        print(f"{report.arch}  fusion={config.fusion}  beta=1/{config.beta_inv}  {size}x{size}")
        print(f"  {report.gmacs:.2f} G multiply-adds per clip   {report.mparams:.2f} M parameters")
        print(f"  inputs: {', '.join(str(s) for s in report.inputs)}")
    return 0


def _per_pathway(args: argparse.Namespace) -> int:
    """The per-pathway table: one preset (--arch) or all of them."""
    rows = []
    for arch in [args.arch] if args.arch else list(PRESETS):
        config = _config(arch, args)
        cost = pathway_report(_build(config), args.size or config.input_size)
        rows.append({**cost.to_json(), "layout": config.layout, "beta_inv": config.beta_inv, "alpha": config.alpha,
                     "fusion": config.fusion})
    if args.json:
        print(json.dumps({"laterals_counted_with": "slow", "presets": rows}))
        return 0
    print(f"{'preset':<28} {'size':>4} {'Slow':>8} {'lateral':>8} {'Fast':>8} {'head':>7} {'total':>8}  "
          f"{'Slow+lat : Fast':>15}")
    for r in rows:
        print(f"{r['arch']:<28} {r['size']:>4} {r['slow_gmacs']:8.3f} {r['lateral_gmacs']:8.3f} {r['fast_gmacs']:8.3f} "
              f"{r['head_gmacs']:7.4f} {r['total_gmacs']:8.3f}  {r['slow_share'] * 100:6.1f} : {r['fast_share'] * 100:4.1f}")
    print("G multiply-adds per clip; shares of the total, laterals counted with the Slow pathway as in the paper "
          "(its Fast pathway is ~20%)")
    return 0
