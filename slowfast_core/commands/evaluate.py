"""`slowfast evaluate CHECKPOINT DATA`: multi-view accuracy (N clips x 3 crops), per class, confusion matrix."""

from __future__ import annotations

import argparse
import json

from slowfast_core.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    p = sub.add_parser("evaluate", help="multi-view accuracy of a checkpoint on a dataset")
    p.add_argument("weights", help="checkpoint file or registry name")
    p.add_argument("data", nargs="+", help="dataset (as for `slowfast train`)")
    p.add_argument("--split", choices=("test", "val", "train"), default=None,
                   help="which split (default: test if the dataset has one, else val)")
    p.add_argument("--clips", type=int, default=10, help="uniform clips per video (default: %(default)s)")
    p.add_argument("--crops", type=int, choices=(1, 3), default=3, help="spatial crops per clip (default: 3)")
    p.add_argument("--backend", default="auto", help="inference backend (default: auto)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--no-background", dest="background", action="store_false")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--task", choices=("classify", "detect"), default="classify",
                   help="detect: frame-mAP@0.5 (AVA) of a detection checkpoint on an AVA-layout folder, GT boxes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, evaluate, print."""
    from slowfast_core.progress import ProgressBar
    from slowfast_core.train.data import load_dataset
    from slowfast_core.train.evaluate import evaluate_model
    from slowfast_core.train.report import format_table
    from slowfast_core.weights.api import load_model

    if args.task == "detect":
        return _run_detect(args)
    if args.clips < 1:
        raise ConfigError(f"--clips {args.clips} must be at least 1")
    model = load_model(args.weights)
    data = load_dataset(args.data, background=args.background)
    split = args.split or ("test" if data.test else "val")
    with ProgressBar(total=len(getattr(data, split)), desc="evaluate", unit="videos", eta=True) as bar:
        result = evaluate_model(model, data, split, clips=args.clips, crops=args.crops, backend=args.backend,
                                device=args.device, progress=lambda _w, done, _t: bar.update(done - bar.n))
    if args.json:
        print(json.dumps({"split": split, **result.to_json()}))
        return 0
    print(f"{split}: {result.videos} videos x {result.views} views: top-1 {result.top1 * 100:.1f}%  "
          f"top-5 {result.top5 * 100:.1f}%  mean class {result.mean_class_accuracy * 100:.1f}%")
    print(format_table({"per_class": result.per_class}, result.confusion, result.categories))
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable video(s): " + "; ".join(result.skipped[:3]))
    return 0


def _run_detect(args: argparse.Namespace) -> int:
    """`--task detect`: frame-mAP@0.5 with ground-truth boxes, per class AP."""
    from slowfast_core.train.detect import evaluate_detection

    if len(args.data) != 1:
        raise ConfigError("--task detect takes one AVA-layout folder")
    split = args.split or "val"
    mean, per_class, boxes = evaluate_detection(args.weights, args.data[0], split=split)
    if args.json:
        print(json.dumps({"split": split, "frame_map_gt": mean, "boxes": boxes,
                          "per_class_ap": [None if ap != ap else ap for ap in per_class]}))
        return 0
    print(f"{split}: frame-mAP@0.5 (ground-truth boxes) {mean:.3f} over {boxes} boxes")
    return 0
