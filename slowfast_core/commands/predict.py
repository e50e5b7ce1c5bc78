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
import itertools
import logging
import sys
from typing import TYPE_CHECKING, TextIO

from slowfast_core.commands.predict_options import PredictOptions, check_options, options_preprocessing
from slowfast_core.commands.predict_output import counted, make_writer, print_header, window_metadata
from slowfast_core.model.config import DEFAULT_ARCH, arch_names
from slowfast_core.progress import ProgressBar
from slowfast_core.video.decode import VideoReader
from slowfast_core.video.encode import check_output_path

if TYPE_CHECKING:
    from slowfast_core.annotate import PredictAnnotator

logger = logging.getLogger(__name__)

def register(sub: argparse._SubParsersAction) -> None:
    """Add the `predict` subcommand."""
    p = sub.add_parser("predict", help="predict the actions in a video file, window by window")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `slowfast predict` (VIDEO plus model, sampling and output options)."""
    p.add_argument("video", metavar="VIDEO", nargs="+",
                   help="a video file OpenCV can read (mp4, avi, mkv, ...); several files, folders or globs with --out")
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
    from slowfast_core.commands.predict_detect import add_detect_arguments
    from slowfast_core.commands.predict_folder import add_folder_arguments
    from slowfast_core.commands.predict_segments import add_segment_arguments

    add_segment_arguments(p)
    add_folder_arguments(p)
    add_detect_arguments(p, threshold=False)  # --threshold is the segments' one (as `run` shares its own)


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


def run(args: argparse.Namespace) -> int:
    """Entry point of `slowfast predict`: one video, per person with `--detect`, or (several, folders, globs,
    `--out`) a folder run."""
    if getattr(args, "detect", False):
        from slowfast_core.commands.predict_detect import run_detect

        return run_detect(args)
    from slowfast_core.commands.predict_folder import is_folder_run, predict_folder
    from slowfast_core.commands.predict_segments import SegmentOptions

    options = PredictOptions(
        arch=args.arch, weights=args.weights, stride=args.stride, topk=args.topk, size=args.size, crop=args.crop,
        device=args.device, backend=args.backend, format=args.format, annotate=args.annotate,
        segments=SegmentOptions.from_args(args),
    )
    if is_folder_run(args.video, args.out):
        return predict_folder(args.video, args.out, options)
    return predict_video(args.video[0], options)


def predict_video(video: str, options: PredictOptions, *, out: TextIO | None = None) -> int:
    """Decode `video`, run the model on every window and write the results to `out` (stdout) in `options.format`."""
    from slowfast_core.backends.base import create_backend
    from slowfast_core.predict import predict_frames
    from slowfast_core.weights.api import load_model
    from slowfast_core.video.windows import default_stride

    out = sys.stdout if out is None else out
    stride = check_options(options)  # before the (slow) model build, so a typo fails at once
    annotate = check_output_path(options.annotate, source=video) if options.annotate else None
    if options.segments is not None:
        options.segments.check(video)
    with VideoReader(video) as reader:  # open and decode one frame first: a bad file fails before the model is built
        decoded = reader.frames()
        first = next(decoded)  # VideoError when the file holds no frames
        model = load_model(arch=options.arch, weights=options.weights)
        if not model.meta.trained:
            logger.warning(
                "%s has random weights (no --weights): untrained — predictions are meaningless; "
                "pass --weights SLOWFAST_8x8_R50 or another name from `slowfast weights list`", model.config.name,
            )
        prep = options_preprocessing(model.meta.preprocessing, options)
        runner = create_backend(model, backend=options.backend, device=options.device)
        stride = default_stride(model.config.geometry) if stride is None else stride
        writer = make_writer(options.format, out, topk=options.topk)
        if options.segments is not None and options.segments.wanted:  # --segments / --srt / --vtt
            from slowfast_core.commands.predict_segments import SegmentsWriter

            writer = SegmentsWriter(out, fmt=options.format, inner=None if options.segments.segments else writer,
                                    categories=model.meta.categories, options=options.segments)
        if options.format == "text":
            print_header(out, reader.info, model, runner.description, prep, stride)
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
                frames = counted(itertools.chain([first], decoded), bar)
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
        writer.finish(window_metadata(reader, model, runner.description, prep, stride, topk=options.topk,
                                annotated=annotate))
        for path in getattr(writer, "written", ()):  # --srt / --vtt
            print(f"subtitles: {path}", file=sys.stderr)
        if options.format == "text":
            note = f"; the file was cut short after {reader.frames_read} frames" if reader.cut_short else ""
            print(f"{count} window{'s' if count != 1 else ''} from {reader.frames_read} frames{note}", file=out)
    return 0


