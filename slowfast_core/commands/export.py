"""`slowfast export --weights W --format onnx|torchscript|openvino --out PATH`: a model for other runtimes.

Inputs are named per pathway ("slow", "fast") with their shapes, the output is "logits"; labels and
preprocessing travel in the file's metadata and in `PATH.json` beside it. The export is verified in its own
runtime against the eager model on a real window (`slowfast_core.export.exporter`); a mismatch is an error
and leaves no file. `--json` prints one JSON document about what was written.
"""

from __future__ import annotations

import argparse
import json
import logging

from slowfast_core.model.config import arch_names

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand."""
    from slowfast_core.export.formats import FORMATS

    p = sub.add_parser("export", help="export a model to ONNX, TorchScript or OpenVINO IR (verified)")
    p.add_argument("--weights", default=None, metavar="NAME|PATH",
                   help="registry name or checkpoint file; default: random weights (untrained)")
    p.add_argument("--arch", default=None, choices=arch_names(), metavar="NAME",
                   help="architecture (default: the weights' own)")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx (.onnx), torchscript (.pt), "
                   "openvino (.xml + .bin)")
    p.add_argument("--out", required=True, metavar="PATH", help="the file to write")
    p.add_argument("--size", type=int, default=None,
                   help="input height and width (short side, centre crop; default: the weights' preprocessing)")
    p.add_argument("--video", default=None, metavar="VIDEO",
                   help="verify on a window of this video (default: the synthetic actions scene)")
    p.add_argument("--json", action="store_true", help="print one JSON document about the export")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of `slowfast export`."""
    from slowfast_core.weights.api import load_model
    from slowfast_core.export.exporter import check_target, export_model
    from slowfast_core.spec import check_short_side

    check_target(args.out, args.format)  # before the model is built
    if args.size is not None:
        check_short_side(args.size, "--size")
    model = load_model(arch=args.arch, weights=args.weights)
    if not model.meta.trained:
        logger.warning("%s has random weights (no --weights): the exported model is untrained",
                       model.config.name)
    result = export_model(model, args.out, args.format, size=args.size, video=args.video)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    shapes = ", ".join(f"{i['name']} {'x'.join(str(d) for d in i['shape'])}" for i in result.metadata["inputs"])
    print(f"{result.path}: {args.format}, inputs {shapes} -> logits batch x {len(result.metadata['labels'])}")
    print(f"verified with {result.runtime} on a real window (batch {result.batch}): largest logit difference "
          f"{result.max_abs_diff:.2e} (limit 1e-03)")
    print("metadata (labels, preprocessing, T, tau, alpha) in the file and in " + str(result.files[1]))
    return 0
