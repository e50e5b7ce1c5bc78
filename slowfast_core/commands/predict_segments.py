"""`slowfast predict VIDEO --segments`: the windows merged into action segments, and subtitles.

The windows' probabilities go through the live view's smoothing, threshold and hysteresis and are merged by
`slowfast_core.segments` (the same code the Sessions window's predicted timeline uses), so "swaying
0:03.2–0:07.9" is what a person watching the live window saw. Output follows predict's format flags: text
lines, one `--json` document with "segments", `--jsonl` one segment per line, `--csv` label,start,end,
confidence. `--srt` / `--vtt` write the segments as subtitles (with or without `--segments`).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from slowfast_core.errors import ConfigError
from slowfast_core.records import PredictionRecord
from slowfast_core.segments import ActionSegment, SmoothingSettings, format_time, segments_from_windows
from slowfast_core.stream.smoothing import check_smoothing

if TYPE_CHECKING:
    from slowfast_core.commands.predict_output import Writer
    from slowfast_core.predict import WindowPrediction
    from slowfast_core.video.decode import VideoInfo


def add_segment_arguments(p: argparse.ArgumentParser) -> None:
    """--segments, --srt, --vtt and the live view's smoothing settings."""
    live = SmoothingSettings.live_defaults()
    p.add_argument("--segments", action="store_true",
                   help="merge the windows into action segments (label, start, end, confidence) with the live "
                   "view's smoothing, threshold and hysteresis")
    p.add_argument("--srt", default=None, metavar="OUT.srt", help="also write the segments as SubRip subtitles")
    p.add_argument("--vtt", default=None, metavar="OUT.vtt", help="also write the segments as WebVTT subtitles")
    p.add_argument("--smoothing", type=int, default=live.window,
                   help="windows averaged before naming an action (default: %(default)s, as live)")
    p.add_argument("--threshold", type=float, default=live.threshold,
                   help="smoothed probability under which no action is named; with --detect, each person's actions "
                   "above it are shown (default: %(default)s, as live)")
    p.add_argument("--hysteresis", type=float, default=live.hysteresis,
                   help="margin a new action must lead by to replace the shown one (default: %(default)s)")


@dataclass(frozen=True)
class SegmentOptions:
    """What `--segments`, `--srt`, `--vtt` and the smoothing options asked for."""

    segments: bool = False
    srt: str | None = None
    vtt: str | None = None
    smoothing: SmoothingSettings = SmoothingSettings()

    @property
    def wanted(self) -> bool:
        """True when segments are computed at all."""
        return self.segments or self.srt is not None or self.vtt is not None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SegmentOptions":
        live = SmoothingSettings.live_defaults()
        return cls(segments=bool(getattr(args, "segments", False)), srt=getattr(args, "srt", None),
                   vtt=getattr(args, "vtt", None),
                   smoothing=SmoothingSettings(window=getattr(args, "smoothing", live.window),
                                               threshold=getattr(args, "threshold", live.threshold),
                                               hysteresis=getattr(args, "hysteresis", live.hysteresis)))

    def check(self, video: str | None = None) -> None:
        """ConfigError for bad smoothing settings or a subtitle path that cannot be written (before any work)."""
        s = self.smoothing
        check_smoothing(window=s.window, threshold=s.threshold, hysteresis=s.hysteresis)
        for flag, path, suffix in (("--srt", self.srt, ".srt"), ("--vtt", self.vtt, ".vtt")):
            if path is None:
                continue
            out = Path(path).expanduser()
            if out.suffix.lower() != suffix:
                raise ConfigError(f"{flag} {path}: the subtitle file needs the extension {suffix}")
            if out.is_dir() or not out.parent.is_dir():
                raise ConfigError(f"{flag} {path}: give a file name in an existing folder")
            if video is not None and out.exists() and out.resolve() == Path(video).expanduser().resolve():
                raise ConfigError(f"{flag} {path} is the input video: choose another file name")


class SegmentCollector:
    """Keeps each window's record and probabilities; `segments()` smooths and merges them."""

    def __init__(self, categories: Sequence[str], settings: SmoothingSettings) -> None:
        self.categories = list(categories)
        self.settings = settings
        self.windows: list[tuple[PredictionRecord, np.ndarray]] = []

    def add(self, prediction: "WindowPrediction") -> None:
        self.windows.append((prediction.record(), prediction.probs))

    def segments(self) -> list[ActionSegment]:
        return segments_from_windows(self.windows, self.categories, self.settings)


def write_segment_files(segments: list[ActionSegment], options: SegmentOptions) -> list[Path]:
    """The subtitle files asked for; returns their paths."""
    from slowfast_core.subtitles import write_subtitles

    written = []
    if options.srt is not None:
        written.append(write_subtitles(segments, Path(options.srt).expanduser(), "srt"))
    if options.vtt is not None:
        written.append(write_subtitles(segments, Path(options.vtt).expanduser(), "vtt"))
    return written


def segment_line(s: ActionSegment) -> str:
    """`  0:03.2-0:07.9  label  78%`: one segment in text output."""
    return f"{format_time(s.start):>9}-{format_time(s.end):<9} {s.label}  {s.confidence:.0%}"


def print_segments(out: TextIO, fmt: str, segments: list[ActionSegment], metadata: dict[str, object],
                   settings: SmoothingSettings) -> None:
    """The segments in `fmt`: text lines, one JSON document, JSON lines or CSV."""
    if fmt == "json":
        doc = {**metadata, "smoothing": {"window": settings.window, "threshold": settings.threshold,
                                         "hysteresis": settings.hysteresis},
               "segments": [s.to_dict() for s in segments]}
        json.dump(doc, out, indent=2, allow_nan=False)
        out.write("\n")
    elif fmt == "jsonl":
        for s in segments:
            print(json.dumps(s.to_dict(), allow_nan=False), file=out)
    elif fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["label", "start", "end", "confidence"])
        for s in segments:
            d = s.to_dict()
            w.writerow([d["label"], d["start"], d["end"], d["confidence"]])
    else:
        if not segments:
            print("no confident action in any window", file=out)
        for s in segments:
            print(segment_line(s), file=out)
    out.flush()


class SegmentsWriter:
    """A `slowfast predict` writer: passes windows to `inner` (None with --segments, whose output replaces
    the windows') and collects them; at the end prints the segments (with --segments) and writes subtitles."""

    def __init__(self, out: TextIO, *, fmt: str, inner: "Writer | None", categories: Sequence[str],
                 options: SegmentOptions) -> None:
        self.out, self.fmt, self.inner, self.options = out, fmt, inner, options
        self.collector = SegmentCollector(categories, options.smoothing)
        self.written: list[Path] = []

    def write(self, prediction: "WindowPrediction", *, info: "VideoInfo") -> None:
        self.collector.add(prediction)
        if self.inner is not None:
            self.inner.write(prediction, info=info)

    def finish(self, metadata: dict[str, object]) -> None:
        segments = self.collector.segments()
        self.written = write_segment_files(segments, self.options)
        if self.inner is not None:
            self.inner.finish(metadata)
        else:
            print_segments(self.out, self.fmt, segments, metadata, self.options.smoothing)
