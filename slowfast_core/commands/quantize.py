"""`slowfast quantize --weights W --calibrate VIDEO_OR_FOLDER...`: int8 for the CPU, with its agreement guard.

Quantises the model with NNCF on a few hundred windows of real video (the clips or folders given, else the
videos of the recorded sessions), caches the int8 model, then runs int8 and fp32 on held-out windows and
prints the guard's figures: top-1 agreement, top-5 overlap, logit correlation. Below 99% top-1 agreement int8
is refused (exit status 1) and `--backend auto` keeps fp32 OpenVINO; when accepted, `auto` uses int8 for this
model from then on. Run again with the same model and video: the cached verdict is printed at once.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace

from slowfast_core.model.config import arch_names
from slowfast_core.spec import check_short_side

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `quantize` subcommand."""
    from slowfast_core.backends.calibration import DEFAULT_WINDOWS

    p = sub.add_parser("quantize", help="int8 OpenVINO model for the CPU, checked against fp32 (agreement guard)")
    p.add_argument("--weights", required=True, metavar="NAME|PATH",
                   help="registry name (slowfast weights list) or checkpoint file")
    p.add_argument("--calibrate", nargs="+", default=None, metavar="VIDEO_OR_FOLDER",
                   help="video files or folders of them to calibrate on (default: your recorded sessions' videos)")
    p.add_argument("--arch", default=None, choices=arch_names(), metavar="NAME",
                   help="architecture (default: the weights' own)")
    p.add_argument("--size", type=int, default=None,
                   help="input short side to calibrate and check at (default: the weights' preprocessing)")
    p.add_argument("--windows", type=int, default=DEFAULT_WINDOWS,
                   help="calibration windows (default: %(default)s; a third as many more are held out for the guard)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Quantise (or read the cached result), print the guard's figures; exit 1 when int8 was refused."""
    from slowfast_core.backends.base import resolve_device
    from slowfast_core.backends.calibration import (
        CalibrationError,
        find_videos,
        plan_calibration,
    )
    from slowfast_core.backends.openvino_backend import openvino_available
    from slowfast_core.backends.openvino_int8 import nncf_version, quantize_model
    from slowfast_core.errors import ConfigError
    from slowfast_core.sessions.store import sessions_videos
    from slowfast_core.weights.api import load_model

    if args.size is not None:
        check_short_side(args.size, "--size")
    if not openvino_available():
        raise ConfigError("int8 runs on OpenVINO, which is not installed here: pip install openvino")
    nncf_version()  # BackendError (one line) when NNCF is missing
    resolve_device("cpu")
    if args.calibrate is not None:
        videos = find_videos(args.calibrate)
    else:
        videos = sessions_videos()
        if not videos:
            raise CalibrationError("no recorded session to calibrate on: record one, or pass --calibrate "
                                   "VIDEO_OR_FOLDER with clips like the ones you will run on")
    model = load_model(arch=args.arch, weights=args.weights)
    prep = model.meta.preprocessing
    if args.size is not None:
        prep = replace(prep, short_side=args.size)
    plan = plan_calibration(videos, model.config.geometry, windows=args.windows)
    say = (lambda message: None) if args.json else print
    result = quantize_model(model, plan, prep, say=say)
    report = result.report
    data = {
        "model": model.config.name, "weights": model.meta.weights, "short_side": prep.short_side,
        **report.to_dict(), "held_out_windows": report.windows,
        "calibration_windows": plan.calibration, "calibration_videos": [v.path for v in plan.videos],
        "stride_s": plan.stride, "cache_path": str(result.entry), "from_cache": result.from_cache,
        "timings": result.timings,
    }
    if args.json:
        print(json.dumps(data))
    else:
        cached = " (cached: same model and video as before)" if result.from_cache else ""
        print(report.summary() + cached)
        print(f"int8 model: {result.entry}")
        print("--backend auto now uses openvino-int8 for this model" if report.accepted else
              "--backend auto keeps fp32 openvino for this model")
    return 0 if report.accepted else 1
