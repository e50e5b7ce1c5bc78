"""`slowfast bench features`: what recording each window's feature costs the live worker, and the disk.

The worker runs the backbone in the backend and applies the linear classifier itself, so each prediction
carries its pooled feature for Teach. The alternative is the whole model in the backend (logits only). This
bench builds both on the same backend and times them *interleaved*, pair by pair, in alternating order: a
busy or throttling machine then slows both sides of a pair alike, and the median of the per-pair ratios
resolves a cost of a few percent that two separate `bench pipeline` runs cannot (their spread under load is
tens of percent). The feature side includes what the worker hands the recorder (a float16 copy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from slowfast_core.backends.base import physical_cores
from slowfast_core.weights.api import create_model
from slowfast_core.spec import check_short_side
from slowfast_core.stream.warm import WarmModel, warm_model

#: bytes per recorded window besides the feature: its span (two float64 seconds)
SPAN_BYTES = 16


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", default="slowfast_r50", help="model preset (untrained weights unless --weights)")
    p.add_argument("--weights", default="", help="registry name or checkpoint for --arch")
    p.add_argument("--size", type=int, default=160, help="input short side")
    p.add_argument("--backend", default="auto", help="backend for both sides (auto: the fastest here)")
    p.add_argument("--pairs", type=int, default=30, help="timed pairs (each: one window each way)")
    p.add_argument("--stride", type=float, default=0.5, help="live stride in seconds, for the bytes per minute")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _with_feature(loaded: WarmModel, inputs: list[torch.Tensor]) -> None:
    """One window as the live worker runs it with features on: logits + the float16 copy for the recorder."""
    logits, feature = loaded.logits(inputs)
    assert feature is not None
    feature.numpy().astype("float16")


def feature_cost(loaded_full: WarmModel, loaded_features: WarmModel, inputs: list[torch.Tensor], *,
                 pairs: int) -> dict[str, float]:
    """Interleaved timing of the two ways to run a window: medians (s) and the median per-pair ratio."""
    full_s: list[float] = []
    feat_s: list[float] = []
    for i in range(pairs):
        order = (0, 1) if i % 2 == 0 else (1, 0)  # alternate who goes first: no side gets the warmer cache
        for side in order:
            if side == 0:
                full_s.append(_timed(lambda: loaded_full.logits(inputs)))
            else:
                feat_s.append(_timed(lambda: _with_feature(loaded_features, inputs)))
    ratios = [f / w for f, w in zip(feat_s, full_s)]
    return {"whole_model_s": statistics.median(full_s), "with_feature_s": statistics.median(feat_s),
            "ratio": statistics.median(ratios),
            "ratio_iqr": statistics.quantiles(ratios, n=4)[2] - statistics.quantiles(ratios, n=4)[0]}


def run(args: argparse.Namespace) -> int:
    check_short_side(args.size, "--size")
    torch.manual_seed(0)  # the same random weights every run: a converted-model cache stays warm
    model = create_model(args.arch, weights=args.weights or None, input_size=args.size)
    size = args.size
    inputs = [torch.randn(1, 3, clip.frames, size, size) for clip in model.config.geometry.pathways()]
    full = warm_model(model, backend=args.backend, device="cpu", features=False)
    with_features = warm_model(model, backend=args.backend, device="cpu", features=True)
    figures = feature_cost(full, with_features, inputs, pairs=max(4, args.pairs))
    dim = model.config.head_in_features
    bytes_per_min = (SPAN_BYTES + 2 * dim) * 60.0 / args.stride
    out = {"model": model.config.name, "size": size, "backend": full.backend.name, "pairs": args.pairs,
           "cores": physical_cores(), "feature_dim": dim, "feature_bytes_per_min": round(bytes_per_min),
           **{k: round(v, 5) for k, v in figures.items()}}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['model']} at {size}², {out['backend']}, {out['pairs']} interleaved pairs, {out['cores']} cores")
    print(f"  whole model in the backend      {figures['whole_model_s'] * 1000:8.1f} ms (median)")
    print(f"  backbone + classifier + feature {figures['with_feature_s'] * 1000:8.1f} ms (median)")
    print(f"  cost of recording features      {(figures['ratio'] - 1) * 100:+8.2f} % (median per-pair ratio, "
          f"IQR {figures['ratio_iqr'] * 100:.2f} points)")
    print(f"  disk                            {bytes_per_min / 1e6:8.2f} MB per minute at a {args.stride:g} s stride")
    return 0
