"""What `slowfast predict` writes: one writer per output format (text, `--jsonl`, `--json`, `--csv`), the
header of the text format, the `--json` document's metadata, and the progress count over decoded frames.
Shared by a single video's run (`commands/predict.py`), folder runs and `--segments`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from slowfast_core.progress import ProgressBar
from slowfast_core.spec import REFERENCE_FPS, Preprocessing
from slowfast_core.video.decode import DecodedFrame, VideoInfo, VideoReader

if TYPE_CHECKING:
    from slowfast_core.model.net import SlowFast
    from slowfast_core.predict import WindowPrediction

FORMATS = ("text", "json", "jsonl", "csv")


def print_header(
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


def window_metadata(
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


def counted(frames: Iterator[DecodedFrame], bar: ProgressBar) -> Iterator[DecodedFrame]:
    """Pass frames through, advancing the progress bar by one per decoded frame."""
    for frame in frames:
        bar.update(1)
        yield frame


class Writer:
    """Writes one window's prediction in one output format."""

    def __init__(self, out: TextIO, *, topk: int) -> None:
        self.out = out
        self.topk = topk

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        raise NotImplementedError

    def finish(self, metadata: dict[str, object]) -> None:
        """After the last window (the JSON document prints here; line formats are done)."""


class TextWriter(Writer):
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


class JsonlWriter(Writer):
    """One JSON object per line: window, start, end, first_frame, last_frame, padded, topk [{label, prob}]."""

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        print(json.dumps(prediction.to_dict(), allow_nan=False), file=self.out)  # never NaN: not JSON


class JsonWriter(Writer):
    """One JSON document at the end: `window_metadata(...)` plus "windows", a list of `--jsonl`'s objects."""

    def __init__(self, out: TextIO, *, topk: int) -> None:
        super().__init__(out, topk=topk)
        self.windows: list[dict[str, object]] = []

    def write(self, prediction: "WindowPrediction", *, info: VideoInfo) -> None:
        self.windows.append(prediction.to_dict())

    def finish(self, metadata: dict[str, object]) -> None:
        json.dump({**metadata, "windows": self.windows}, self.out, indent=2)
        self.out.write("\n")
        self.out.flush()


class CsvWriter(Writer):
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


def make_writer(fmt: str, out: TextIO, *, topk: int) -> Writer:
    return {"text": TextWriter, "json": JsonWriter, "jsonl": JsonlWriter, "csv": CsvWriter}[fmt](out, topk=topk)
