"""`slowfast predict DIR_OR_GLOB… --out RESULTS/`: every video of folders, globs and files, one model.

The model is loaded and its backend built (converted, compiled) once, then each video runs through the same
windows, smoothing and segments as `slowfast predict VIDEO --segments`. Per video RESULTS/ gets
`<name>.json` (the video, its windows and its segments) and `<name>.srt`; `summary.csv` gets one row (top
label over the whole video, its mean probability, the segments), written as each video is done. A progress
bar over the videos shows the ETA (on a terminal), and each video's result is printed beside its name.

An unreadable video is named on stderr, listed in summary.csv as skipped with the reason, and the run goes
on (exit status 1 at the end when any was skipped). Ctrl-C keeps every finished video's files and summary row
and says where they are.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from slowfast_core.errors import ConfigError, SlowFastError
from slowfast_core.segments import ActionSegment, format_time

if TYPE_CHECKING:
    from slowfast_core.backends.base import InferenceBackend
    from slowfast_core.commands.predict_options import PredictOptions
    from slowfast_core.commands.predict_segments import SegmentCollector, SegmentOptions
    from slowfast_core.model.net import SlowFast
    from slowfast_core.spec import Preprocessing

logger = logging.getLogger(__name__)

#: what a folder or glob contributes (case-insensitive extensions OpenCV/FFmpeg read)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
SUMMARY = "summary.csv"
SUMMARY_COLUMNS = ("file", "status", "windows", "top_label", "top_prob", "segments", "result")
_GLOB_CHARS = set("*?[")


def add_folder_arguments(p: argparse.ArgumentParser) -> None:
    """--out: the folder run's results folder."""
    p.add_argument("--out", default=None, metavar="RESULTS/",
                   help="run every video of the VIDEO folders, globs and files; write one JSON (windows and "
                   "segments) and one .srt per video and summary.csv into this folder")


def is_folder_run(inputs: Sequence[str], out: str | None) -> bool:
    """True for a folder run: --out given, several inputs, a folder, or a glob pattern that is not a file."""
    if out is not None or len(inputs) > 1:
        return True
    only = Path(inputs[0]).expanduser()
    return only.is_dir() or (not only.exists() and bool(_GLOB_CHARS & set(inputs[0])))


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """The video files named by `inputs`: files as given, folders searched recursively, globs expanded
    (recursive with **); sorted within each input, duplicates dropped. ConfigError when nothing matches."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
            if not matches:
                raise ConfigError(f"no video files ({', '.join(VIDEO_EXTENSIONS[:4])}, …) in the folder {item}")
        elif path.exists():
            matches = [path]
        elif _GLOB_CHARS & set(item):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(item), recursive=True)
                             if Path(m).suffix.lower() in VIDEO_EXTENSIONS and Path(m).is_file())
            if not matches:
                raise ConfigError(f"no video files match {item}")
        else:
            raise ConfigError(f"{item}: no such file or folder")
        found.extend(matches)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _check_out(out: str | None, inputs: Sequence[str]) -> Path:
    if out is None:
        what = f"{inputs[0]} is a folder (or a pattern)" if len(inputs) == 1 else "several videos"
        raise ConfigError(f"{what}: give --out RESULTS/, the folder for each video's results and summary.csv")
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder for the results")
    if not folder.parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {folder.parent} does not exist")
    return folder


@dataclass(frozen=True)
class VideoResult:
    """One video's outcome: ok with its top label and segments, or skipped with the reason."""

    path: Path
    status: str  # "ok" or "skipped: reason"
    windows: int = 0
    top_label: str | None = None
    top_prob: float | None = None
    segments: tuple[ActionSegment, ...] = ()
    result: Path | None = None

    def describe(self) -> str:
        """The line printed beside the video's name."""
        if self.status != "ok":
            return self.status
        acts = ", ".join(f"{s.label} {format_time(s.start)}-{format_time(s.end)}" for s in self.segments[:3])
        more = f" (+{len(self.segments) - 3} more)" if len(self.segments) > 3 else ""
        seg = f"; {len(self.segments)} segment{'s' if len(self.segments) != 1 else ''}: {acts}{more}" \
            if self.segments else "; no confident action"
        return f"{self.top_label} {self.top_prob:.0%}{seg}"

    def row(self) -> list[object]:
        segs = "; ".join(f"{s.label} {s.start:.2f}-{s.end:.2f}" for s in self.segments)
        return [str(self.path), self.status, self.windows, self.top_label or "",
                "" if self.top_prob is None else f"{self.top_prob:.6f}", segs,
                "" if self.result is None else self.result.name]


def _result_name(path: Path, used: set[str]) -> str:
    """`clip.mp4` -> `clip.mp4`, or `clip.mp4-2`… when another input had the same name."""
    name, k = path.name, 2
    while name in used:
        name, k = f"{path.name}-{k}", k + 1
    used.add(name)
    return name


def _write_json(path: Path, doc: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def predict_folder(inputs: Sequence[str], out: str | None, options: "PredictOptions", *,
                   on_done: Callable[[VideoResult], None] | None = None) -> int:
    """Run every video of `inputs` into the folder `out` (see the module doc). `on_done` is called after each
    video's files and summary row are written. Returns 0, or 1 when a video was skipped."""
    from slowfast_core.backends.base import create_backend
    from slowfast_core.commands.predict_options import check_options, options_preprocessing
    from slowfast_core.weights.api import load_model
    from slowfast_core.commands.predict_segments import SegmentCollector, SegmentOptions
    from slowfast_core.progress import ProgressBar
    from slowfast_core.video.windows import default_stride

    stride = check_options(options)
    if options.annotate is not None:
        raise ConfigError("--annotate writes one video: run it on one file, not a folder run")
    if options.format != "text":
        raise ConfigError(f"--{options.format} prints one video's results: a folder run writes RESULTS/<name>.json "
                          "per video and summary.csv instead")
    seg_options = options.segments or SegmentOptions()
    if seg_options.srt is not None or seg_options.vtt is not None:
        raise ConfigError("--srt/--vtt name one file: a folder run writes <name>.srt per video into --out")
    seg_options.check()
    folder = _check_out(out, inputs)
    videos = expand_inputs(inputs)
    model = load_model(arch=options.arch, weights=options.weights)  # once for every video
    if not model.meta.trained:
        logger.warning("%s has random weights (no --weights): untrained — predictions are meaningless",
                       model.config.name)
    prep = options_preprocessing(model.meta.preprocessing, options)
    runner = create_backend(model, backend=options.backend, device=options.device)  # converted once
    stride = default_stride(model.config.geometry) if stride is None else stride
    folder.mkdir(parents=True, exist_ok=True)
    summary_path = folder / SUMMARY
    results: list[VideoResult] = []
    used: set[str] = set()
    with open(summary_path, "w", encoding="utf-8", newline="") as summary_file:
        summary = csv.writer(summary_file, lineterminator="\n")
        summary.writerow(SUMMARY_COLUMNS)
        summary_file.flush()
        try:
            with ProgressBar(total=len(videos), desc="videos", unit="videos", eta=True,
                             enabled=options.progress) as bar:
                for video in videos:
                    result = _one_video(video, folder, _result_name(video, used), model, runner, prep, stride,
                                        options, SegmentCollector(model.meta.categories, seg_options.smoothing),
                                        seg_options)
                    results.append(result)
                    summary.writerow(result.row())
                    summary_file.flush()
                    if bar.active:
                        sys.stderr.write("\r\x1b[K")
                    print(f"{video}: {result.describe()}", file=sys.stdout if result.status == "ok" else sys.stderr,
                          flush=True)
                    bar.update(1)
                    if on_done is not None:
                        on_done(result)
        except KeyboardInterrupt:
            print(f"interrupted after {len(results)} of {len(videos)} videos: their results are in {folder} "
                  f"({SUMMARY})", file=sys.stderr, flush=True)
            raise
    skipped = [r for r in results if r.status != "ok"]
    print(f"{len(results) - len(skipped)} of {len(videos)} videos done; results in {folder} ({SUMMARY})",
          file=sys.stderr)
    if skipped:
        print(f"skipped {len(skipped)}: " + ", ".join(str(r.path) for r in skipped), file=sys.stderr)
        return 1
    return 0


def _one_video(video: Path, folder: Path, name: str, model: "SlowFast", runner: "InferenceBackend",
               prep: "Preprocessing", stride: float, options: "PredictOptions", collector: "SegmentCollector",
               seg_options: "SegmentOptions") -> VideoResult:
    """Predict one video and write its JSON and subtitles; a video that cannot be read is skipped."""
    from slowfast_core.commands.predict_output import window_metadata
    from slowfast_core.commands.predict_segments import write_segment_files
    from slowfast_core.predict import predict_frames
    from slowfast_core.video.decode import VideoReader

    try:
        with VideoReader(video) as reader:
            windows = []
            for prediction in predict_frames(reader.frames(), backend=runner, stride=stride, topk=options.topk,
                                             preprocessing=prep):
                collector.add(prediction)
                windows.append(prediction.to_dict())
            meta = window_metadata(reader, model, runner.description, prep, stride, topk=options.topk, annotated=None)
    except SlowFastError as exc:  # unreadable, empty, not a video: named and skipped
        return VideoResult(video, f"skipped: {exc}")
    if not collector.windows:
        return VideoResult(video, "skipped: no window could be cut from it")
    segments = collector.segments()
    mean = np.mean(np.stack([probs for _, probs in collector.windows]), axis=0)  # (C,) the whole video
    best = int(np.argmax(mean))
    categories = model.meta.categories
    top = categories[best] if best < len(categories) else f"class {best}"
    s = seg_options.smoothing
    doc = {**meta, "top": {"label": top, "prob": round(float(mean[best]), 6)},
           "smoothing": {"window": s.window, "threshold": s.threshold, "hysteresis": s.hysteresis},
           "segments": [seg.to_dict() for seg in segments], "windows": windows}
    result = folder / f"{name}.json"
    _write_json(result, doc)
    write_segment_files(segments, replace(seg_options, srt=str(folder / f"{name}.srt"), vtt=None))
    return VideoResult(video, "ok", len(windows), top, float(mean[best]), tuple(segments), result)
