"""`slowfast predict VIDEO --detect`: per window, per person: track id, box, score, actions.

Text prints one line per person per window; `--json` one document (video, model, detector, then windows with
their `people`); `--jsonl` one object per window per line; `--csv` one row per person per window.
`--annotate OUT.mp4` writes the video with each person's box in its track colour and its actions (the per-person
overlay, `overlay.people`), each window's people shown from the moment its window ends.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from typing import TextIO

from slowfast_core.errors import ConfigError
from slowfast_core.video.decode import VideoReader

logger = logging.getLogger(__name__)

DEFAULT_DETECTION_ARCH = "slowfast_r50_detection"


def add_detect_arguments(p: argparse.ArgumentParser, *, threshold: bool = True) -> None:
    """The options `--detect` adds to `slowfast predict` (and `run`, whose --threshold already exists)."""
    g = p.add_argument_group("per-person detection")
    g.add_argument("--detect", action="store_true",
                   help="who is doing what: person boxes, then the actions of each person (AVA-style)")
    g.add_argument("--detector", default=None, metavar="NAME|scene:N",
                   help="person detector: a torchvision one by name (default: the MobileNetV3 320 one on a CPU, "
                        "ResNet-50 FPN on a GPU), or scene:N, the synthetic scene's own boxes for N actors")
    if threshold:
        g.add_argument("--threshold", type=float, default=0.5, help="show every action above this probability")


def load_detection_model(weights: str | None, arch: str | None):  # noqa: ANN201 - SlowFastDetection
    """The detection model: a checkpoint / registry name, or random weights of `arch` (the caller warns)."""
    from slowfast_core.model.detection import is_detection_arch
    from slowfast_core.weights.detection import create_detection_model

    if arch is not None and not is_detection_arch(arch):
        raise ConfigError(f"--arch {arch} is a classifier: with --detect use slowfast_r50_detection or "
                          "slowfast_tiny_detection (or leave --arch out)")
    if weights is None:
        return create_detection_model(arch or DEFAULT_DETECTION_ARCH, seed=0)
    return create_detection_model(arch or DEFAULT_DETECTION_ARCH, weights=weights)


def _one_video(args: argparse.Namespace) -> str:
    """The one VIDEO `--detect` runs on (`predict` takes several for folder runs, which --detect does not do)."""
    videos = args.video if isinstance(args.video, list) else [args.video]
    if len(videos) != 1 or getattr(args, "out", None) is not None:
        raise ConfigError("--detect runs on one video at a time: give one VIDEO file and no --out")
    return videos[0]


def run_detect(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Entry point of `slowfast predict --detect`."""
    from slowfast_core.detect.factory import make_detector
    from slowfast_core.detect.offline import predict_people_frames
    from slowfast_core.video.windows import default_stride, parse_stride

    out = sys.stdout if out is None else out
    if not 0.0 <= args.threshold <= 1.0:
        raise ConfigError(f"--threshold {args.threshold} must be in 0..1")
    video = _one_video(args)
    stride = parse_stride(args.stride) if args.stride is not None else None
    with VideoReader(video) as reader:
        frames = reader.frames()
        model = load_detection_model(args.weights, args.arch)
        if not model.meta.trained:
            logger.warning("%s has random weights (no --weights): untrained — actions are meaningless",
                           model.config.name)
        detector = make_detector(args.detector, device=args.device)
        windows = []
        writer = csv.writer(out, lineterminator="\n") if args.format == "csv" else None
        if writer is not None:
            writer.writerow(["window", "start", "end", "track", "x1", "y1", "x2", "y2", "score", "actions"])
        for w in predict_people_frames(frames, model=model, detector=detector, stride=stride,
                                       threshold=args.threshold):
            record = w.to_dict()
            if args.format == "json" or args.annotate:
                windows.append(record)
            if args.format == "jsonl":
                print(json.dumps(record, allow_nan=False), file=out)
            elif writer is not None:
                for p in w.result.people:
                    writer.writerow([w.span.number, f"{w.span.start:.3f}", f"{w.span.end:.3f}", p.track,
                                     *(f"{v:.4f}" for v in p.box), f"{p.score:.3f}",
                                     "; ".join(f"{label} {prob:.3f}" for label, prob in p.actions)])
            elif args.format == "text":
                _print_window(out, w)
            out.flush()
        stride_s = default_stride(model.config.geometry) if stride is None else stride
        if args.format == "json":
            json.dump({"video": {"path": str(reader.info.path), "width": reader.info.width,
                                 "height": reader.info.height, "fps": round(reader.info.fps, 6)},
                       "model": {"arch": model.config.name, "weights": model.meta.weights,
                                 "trained": model.meta.trained, "num_classes": len(model.meta.categories)},
                       "detector": detector.name, "threshold": args.threshold, "stride": round(stride_s, 6),
                       "windows": windows}, out, indent=2)
            out.write("\n")
    if args.annotate:
        path = _annotate(video, args.annotate, windows)
        print(f"annotated video: {path}", file=sys.stderr)
    return 0


def _print_window(out: TextIO, w) -> None:  # noqa: ANN001 - PeopleWindow
    s = w.span
    if not w.result.people:
        print(f"{s.start:7.2f}-{s.end:.2f} s  no person in view", file=out)
        return
    for p in w.result.people:
        acts = " | ".join(f"{label} {prob:.1%}" for label, prob in p.actions) or "no action above the threshold"
        box = ", ".join(f"{v:.2f}" for v in p.box)
        print(f"{s.start:7.2f}-{s.end:.2f} s  #{p.track} [{box}]  {acts}", file=out)


def _annotate(video: str, dest: str, windows: list[dict[str, object]]):  # noqa: ANN202 - Path
    """Decode `video` again and draw each window's people from its end on (a second pass keeps memory flat)."""
    from slowfast_core.overlay.people import draw_people
    from slowfast_core.records import PredictionRecord
    from slowfast_core.video.encode import VideoFileWriter, check_output_path

    path = check_output_path(dest, source=video)
    records = [PredictionRecord.from_dict({**w, "topk": []}) for w in windows]
    with VideoReader(video) as reader:
        writer = VideoFileWriter(path, fps=reader.info.fps, width=reader.info.width, height=reader.info.height)
        k, shown = 0, None
        try:
            for _index, t, bgr in reader.frames():
                while k < len(records) and records[k].last_instant <= t + 1e-6:
                    shown = records[k]
                    k += 1
                frame = bgr.copy()
                if shown is not None and shown.people is not None:
                    draw_people(frame, shown.people)
                writer.write(frame)
        except BaseException:
            writer.abort()  # no half-written video under the name asked for
            raise
        return writer.close()


def detection_engine_parts(args: argparse.Namespace, threshold: float):  # noqa: ANN201 - (classifier, PeopleStep)
    """`slowfast run --detect`: the PeopleStep the engine's worker runs, and the classifier the engine is started
    with (random weights of the detection backbone: it keeps the engine's model machinery whole, and is not run)."""
    from slowfast_core.weights.api import create_model

    step = people_step(args.weights, args.arch, args.detector, threshold=threshold, device=args.device)
    model = step.model
    classifier = create_model(model.config.backbone.name, seed=0, input_size=model.meta.preprocessing.short_side)
    return classifier, step


def people_step(weights: str | None, arch: str | None, detector: str | None, *, threshold: float,
                device: str | None = None):  # noqa: ANN201 - PeopleStep
    """The per-person step a running engine switches to (`Engine.set_people`): the detection model (weights, or
    random weights of `arch`, warned as untrained), the person detector by name (or scene:N), the threshold."""
    from slowfast_core.detect.factory import make_detector
    from slowfast_core.detect.people import PeopleStep

    model = load_detection_model(weights, arch)
    if not model.meta.trained:
        logger.warning("%s has random weights (no --weights): untrained — actions are meaningless",
                       model.config.name)
    return PeopleStep(model, make_detector(detector, device=device), threshold=threshold)
