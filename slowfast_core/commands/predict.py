"""`slowfast predict VIDEO`: top-k actions for every window of a video file (offline, no real-time engine).

Text output (default) prints one line per window: its time span in the file, the frames it used and the
top-k labels with probabilities. `--json` prints one JSON document (the video, model, input and window
settings, then the list of windows); `--jsonl` one JSON object per window per line, as each window is done
(the fields of `slowfast run --jsonl`); `--csv` a header and one row per window. `--annotate OUT.mp4` also
writes the video with the live overlay drawn on every frame (`slowfast_core.annotate`). Notices (untrained
model, file cut short, where the annotated video went) go to stderr, never into the data.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from slowfast_core.errors import ConfigError
from slowfast_core.model.config import DEFAULT_ARCH, arch_names
from slowfast_core.progress import ProgressBar
from slowfast_core.spec import REFERENCE_FPS, Preprocessing, check_short_side
from slowfast_core.video.decode import DecodedFrame, VideoInfo, VideoReader
from slowfast_core.video.encode import check_output_path

if TYPE_CHECKING:
    from slowfast_core.annotate import PredictAnnotator
    from slowfast_core.model.net import SlowFast
    from slowfast_core.predict import WindowPrediction

logger = logging.getLogger(__name__)

FORMATS = ("text", "json", "jsonl", "csv")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `predict` subcommand."""
    p = sub.add_parser("predict", help="predict the actions in a video file, window by window")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `slowfast predict` (VIDEO plus model, sampling and output options)."""
    p.add_argument("video", metavar="VIDEO", help="a video file OpenCV can read (mp4, avi, mkv, ...)")
    add_model_arguments(p)
    p.add_argument("--stride", default=None, metavar="S",
                   help="time between windows: seconds (0.5 or 0.5s) or frames at 30 fps (16f); default: half a window")
    p.add_argument("--topk", type=int, default=5, help="labels per window (default: %(default)s)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json",
                     help="one JSON document: video, model and window settings, then the windows")
    fmt.add_argument("--jsonl", dest="format", action="store_const", const="jsonl",
                     help="one JSON object per window, one per line, as they are done")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv",
                     help="CSV: a header, then one row per window")
    p.set_defaults(format="text")
    p.add_argument("--annotate", default=None, metavar="OUT.mp4",
                   help="also write the video with the predictions drawn on it (H.264 where available)")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Model and input options shared by `predict` and `demo`."""
    p.add_argument("--weights", default=None, metavar="NAME|PATH",
                   help="registry name (slowfast weights list) or checkpoint file; default: random weights")
    p.add_argument("--arch", default=None, choices=arch_names(), metavar="NAME",
                   help=f"architecture (default: the weights' own, else {DEFAULT_ARCH}); one of: "
                   + ", ".join(arch_names()))
    p.add_argument("--size", type=int, default=None,
                   help="short side frames are resized to (default: the weights' preprocessing, 256)")
    p.add_argument("--crop", choices=("center", "full"), default=None,
                   help="center: square crop of --size (default, as the anchors test); full: the whole frame")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--backend", default="auto", help="inference backend (default: fastest available)")


@dataclass(frozen=True)
class PredictOptions:
    """Everything `slowfast predict` needs besides the video path (the parsed command line)."""

    arch: str | None = None
    weights: str | None = None
    stride: str | None = None
    topk: int = 5
    size: int | None = None
    crop: str | None = None
    device: str = "auto"
    backend: str = "auto"
    format: str = "text"
    progress: bool = True
    annotate: str | None = None


def run(args: argparse.Namespace) -> int:
    """Entry point of `slowfast predict`."""
    options = PredictOptions(
        arch=args.arch, weights=args.weights, stride=args.stride, topk=args.topk, size=args.size, crop=args.crop,
        device=args.device, backend=args.backend, format=args.format, annotate=args.annotate,
    )
    return predict_video(args.video, options)


def predict_video(video: str, options: PredictOptions, *, out: TextIO | None = None) -> int:
    """Decode `video`, run the model on every window and write the results to `out` (stdout) in `options.format`."""
    from slowfast_core.backends.base import create_backend
    from slowfast_core.predict import predict_frames
    from slowfast_core.weights.api import load_model
    from slowfast_core.video.windows import default_stride

    out = sys.stdout if out is None else out
    stride = _check_options(options)  # before the (slow) model build, so a typo fails at once
    annotate = check_output_path(options.annotate, source=video) if options.annotate else None
    with VideoReader(video) as reader:  # open and decode one frame first: a bad file fails before the model is built
        decoded = reader.frames()
        first = next(decoded)  # VideoError when the file holds no frames
        model = load_model(arch=options.arch, weights=options.weights)
        if not model.meta.trained:
            logger.warning(
                "%s has random weights (no --weights): untrained — predictions are meaningless; "
                "pass --weights SLOWFAST_8x8_R50 or another name from `slowfast weights list`", model.config.name,
            )
        prep = _input_preprocessing(model.meta.preprocessing, options)
        runner = create_backend(model, backend=options.backend, device=options.device)
        stride = default_stride(model.config.geometry) if stride is None else stride
        writer = _make_writer(options.format, out, topk=options.topk)
        if options.format == "text":
            _print_header(out, reader.info, model, runner.description, prep, stride)
        annotator: PredictAnnotator | None = None
        if annotate is not None:
            from slowfast_core.annotate import PredictAnnotator  # lazy: the engine's settings and the encoder

            annotator = PredictAnnotator(
                annotate, fps=reader.info.fps, width=first.bgr.shape[1], height=first.bgr.shape[0],
                categories=model.meta.categories, untrained=not model.meta.trained, topk=options.topk,
                stride_s=stride,
            )
        count = 0
        try:
            with ProgressBar(total=reader.info.frame_count, desc=reader.path.name, unit="frames",
                             enabled=options.progress) as bar:
                frames = _counted(itertools.chain([first], decoded), bar)
                if annotator is not None:
                    frames = annotator.frames(frames)
                for prediction in predict_frames(frames, backend=runner, stride=stride, topk=options.topk,
                                                 preprocessing=prep):
                    if annotator is not None:
                        annotator.add(prediction)
                    if bar.active:
                        sys.stderr.write("\r\x1b[K")  # clear the bar's line so the result line prints cleanly
                    writer.write(prediction, info=reader.info)
                    out.flush()
                    count += 1
            if annotator is not None:
                annotator.close()
        except BaseException:
            if annotator is not None:
                annotator.abort()  # no half-written video under the name asked for
            raise
        if annotator is not None:
            print(f"annotated video: {annotate} ({annotator.frames_written} frames, {reader.info.fps:.2f} fps, "
                  f"{annotator.writer.width}x{annotator.writer.height}, {annotator.writer.encoder})", file=sys.stderr)
        writer.finish(_metadata(reader, model, runner.description, prep, stride, topk=options.topk,
                                annotated=annotate))
        if options.format == "text":
            note = f"; the file was cut short after {reader.frames_read} frames" if reader.cut_short else ""
            print(f"{count} window{'s' if count != 1 else ''} from {reader.frames_read} frames{note}", file=out)
    return 0


def _check_options(options: PredictOptions) -> float | None:
    """Validate what can be checked without a model; returns the stride in seconds (None: the default)."""
    from slowfast_core.backends.base import resolve_device
    from slowfast_core.video.windows import parse_stride

    if options.format not in FORMATS:
        raise ValueError(f"unknown output format {options.format!r}")
    if options.topk < 1:
        raise ConfigError(f"--topk {options.topk} must be 1 or more")
    if options.size is not None:
        check_short_side(options.size, "--size")
    resolve_device(options.device)  # ConfigError for an unknown device or CUDA without a GPU
    return parse_stride(options.stride) if options.stride is not None else None


def _input_preprocessing(base: Preprocessing, options: PredictOptions) -> Preprocessing:
    """The model's preprocessing with --size and --crop applied."""
    if options.size is not None:
        base = replace(base, short_side=options.size)
    if options.crop is not None:
        base = replace(base, crop=options.crop)
    return base


def _print_header(
    out: TextIO, info: VideoInfo, model: "SlowFast", backend: str, prep: Preprocessing, stride: float,
) -> None:
    """Two lines before the windows: the file, then the model, backend, input size and window timing."""
    geometry = model.config.geometry
    weights = model.meta.weights or "random weights, untrained"
    print(f"{info.path.name}: {info.describe()}", file=out)
    print(
        f"model {model.config.name} ({weights}), {backend}; input short side {prep.short_side}, {prep.crop} crop; "
        f"window {geometry.window_frames} frames at {REFERENCE_FPS:g} fps ({geometry.window_seconds:.2f} s), "
        f"stride {stride:.2f} s",
        file=out,
    )


def _metadata(
    reader: VideoReader, model: "SlowFast", backend: str, prep: Preprocessing, stride: float, *, topk: int,
    annotated: Path | None,
) -> dict[str, object]:
    """What `--json` prints before the windows: the video as read, the model, its input and the windows' timing."""
    info, geometry = reader.info, model.config.geometry
    return {
        "video": {"path": str(info.path), "width": info.width, "height": info.height, "fps": round(info.fps, 6),
                  "fps_assumed": info.fps_assumed, "frame_count": info.frame_count,
                  "frames_read": reader.frames_read, "cut_short": reader.cut_short},
        "model": {"arch": model.config.name, "weights": model.meta.weights, "trained": model.meta.trained,
                  "num_classes": len(model.meta.categories), "backend": backend},
        "preprocessing": {"short_side": prep.short_side, "crop": prep.crop, "mean": list(prep.mean),
                          "std": list(prep.std)},
        "window": {"slow_frames": geometry.slow_frames, "tau": geometry.tau, "alpha": geometry.alpha,
                   "frames": geometry.window_frames, "seconds": round(geometry.window_seconds, 6),
                   "stride": round(stride, 6), "topk": topk},
        "annotated": str(annotated) if annotated is not None else None,
    }


def _counted(frames: Iterator[DecodedFrame], bar: ProgressBar) -> Iterator[DecodedFrame]:
    """Pass frames through, advancing the progress bar by one per decoded frame."""
    for frame in frames:
        bar.update(1)
        yield frame


class _Writer:
    """Writes one window's prediction in one output format."""

    def __init__(self, out: TextIO, *, topk: int) -> None:
        self.out = out
        self.topk = topk

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        raise NotImplementedError

    def finish(self, metadata: dict[str, object]) -> None:
        """After the last window (the JSON document prints here; line formats are done)."""


class _TextWriter(_Writer):
    """`  0.00-2.13 s  frames 0-63  label 12.3% | label 4.5% | ...`, plus a note on a padded window."""

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        s = prediction.span
        labels = " | ".join(f"{label} {prob:.1%}" for label, prob in prediction.topk)
        print(f"{s.start:7.2f}-{s.end:.2f} s  frames {s.first_frame}-{s.last_frame}  {labels}", file=self.out)
        if s.padded:
            clip = (s.last_frame + 1) / info.fps
            print(
                f"         (padded: the clip is {clip:.2f} s, shorter than one {s.end - s.start:.2f} s window; "
                "its last frame is repeated to fill it)",
                file=self.out,
            )


class _JsonlWriter(_Writer):
    """One JSON object per line: window, start, end, first_frame, last_frame, padded, topk [{label, prob}]."""

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        print(json.dumps(prediction.to_dict(), allow_nan=False), file=self.out)  # never NaN: not JSON


class _JsonWriter(_Writer):
    """One JSON document at the end: `_metadata(...)` plus "windows", a list of `--jsonl`'s objects."""

    def __init__(self, out: TextIO, *, topk: int) -> None:
        super().__init__(out, topk=topk)
        self.windows: list[dict[str, object]] = []

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        self.windows.append(prediction.to_dict())

    def finish(self, metadata: dict[str, object]) -> None:
        json.dump({**metadata, "windows": self.windows}, self.out, indent=2)
        self.out.write("\n")
        self.out.flush()


class _CsvWriter(_Writer):
    """A header then one row per window: span columns, then label_1, prob_1, ... label_k, prob_k."""

    SPAN_COLUMNS = ("window", "start", "end", "first_frame", "last_frame", "padded")

    def __init__(self, out: TextIO, *, topk: int) -> None:
        super().__init__(out, topk=topk)
        self._csv = csv.writer(out, lineterminator="\n")
        self._header_done = False

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        row = prediction.to_dict()
        if not self._header_done:
            ranks = [f"{kind}_{i}" for i in range(1, len(prediction.topk) + 1) for kind in ("label", "prob")]
            self._csv.writerow([*self.SPAN_COLUMNS, *ranks])
            self._header_done = True
        cells: list[object] = [row[c] for c in self.SPAN_COLUMNS]
        for label, prob in prediction.topk:
            cells += [label, f"{prob:.6f}"]
        self._csv.writerow(cells)


def _make_writer(fmt: str, out: TextIO, *, topk: int) -> _Writer:
    return {"text": _TextWriter, "json": _JsonWriter, "jsonl": _JsonlWriter, "csv": _CsvWriter}[fmt](out, topk=topk)

