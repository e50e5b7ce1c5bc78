"""`slowfast bench pipeline`: a paced source through the real-time engine with a real model, then its metrics.

The source is live and paced at --fps: the synthetic scene (default) or a generated video file played like
a camera (--source file, looped). The model runs as fast as it can; when it is slower than the stride, the
scheduler skips windows (counted as stale) instead of falling behind. What matters, printed at the end:
capture fps and drops (the capture must keep up while inference runs), predictions/s, inference and
end-to-end latency, and the overhead = end-to-end - inference (everything the pipeline adds), p50/p95,
plus resident memory at start and end (flat over a long run: the ring buffer is the only frame store).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from slowfast_core.errors import ConfigError
from slowfast_core.model.config import arch_names
from slowfast_core.spec import check_short_side
from slowfast_core.stream.types import EngineError, EngineStatus

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `slowfast bench pipeline`."""
    p.add_argument("--arch", default="slowfast_8x8_r50", choices=arch_names(), metavar="NAME",
                   help="architecture, random weights (default: %(default)s)")
    p.add_argument("--size", type=int, default=224, help="model input short side (default: %(default)s)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (default: %(default)s)")
    p.add_argument("--fps", type=float, default=30.0, help="source frame rate (default: %(default)s)")
    p.add_argument("--width", type=int, default=640, help="source width (default: %(default)s)")
    p.add_argument("--height", type=int, default=480, help="source height (default: %(default)s)")
    p.add_argument("--source", choices=("synthetic", "file"), default="synthetic",
                   help="synthetic scene, or a generated mp4 played at --fps (default: %(default)s)")
    p.add_argument("--stride", type=float, default=0.5, help="seconds between windows (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--backend", default="auto", help="inference backend (default: fastest available)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the metrics as JSON to OUT")
    p.add_argument("--detect", action="store_true",
                   help="who is doing what: the person detector's and the RoI head's cost per window with 1 and 3 "
                        "people, against one whole-frame classification (random weights of --arch's backbone)")
    p.add_argument("--detector", default=None, metavar="NAME|scene:N", help="with --detect: the person detector")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr while running")
    p.add_argument("--no-features", action="store_true",
                   help="the whole model in the backend, no per-window feature (the cost comparison)")


class _Progress:
    """Prints a progress line on stderr about every 5 s (a plain line: progress is not a warning) and counts
    errors (those are warnings)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.errors: list[EngineError] = []
        self._last = 0.0
        self.first_prediction = threading.Event()

    def on_prediction(self, prediction: object) -> None:
        self.first_prediction.set()

    def on_status(self, status: EngineStatus) -> None:
        now = time.monotonic()
        if self.quiet or now - self._last < 5.0:
            return
        self._last = now
        p50 = "-" if status.inference_ms_p50 is None else f"{status.inference_ms_p50:.0f}"
        print(f"bench: {status.state}: {status.capture_fps:.1f} fps, {status.frames_read} read, "
              f"{status.frames_dropped} dropped, {status.windows_done} windows, {status.windows_dropped} stale, "
              f"inference p50 {p50} ms", file=sys.stderr, flush=True)

    def on_error(self, error: EngineError) -> None:
        self.errors.append(error)
        logger.warning("engine %s: %s", error.where, error.message)


def _write_clip(path: Path, *, width: int, height: int, fps: float, seconds: float = 10.0) -> None:
    """A looping test clip of the synthetic scene (mp4v), so the file path decodes like a real video."""
    import cv2

    from slowfast_core.video.synthetic import SyntheticSource

    scene = SyntheticSource(width, height, fps, paced=False)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise ConfigError(f"OpenCV cannot write the benchmark clip {path}: check the temporary folder")
    try:
        for i in range(int(seconds * fps)):
            writer.write(scene.render(i))
    finally:
        writer.release()


def run_pipeline(*, arch: str, size: int, duration: float, fps: float, width: int, height: int, source_kind: str,
                 stride: float, device: str, backend: str, quiet: bool = True, features: bool = True,
                 listeners: Sequence[object] = (), after_first_prediction: bool = False,
                 start_timeout: float = 600.0) -> dict[str, Any]:
    """Run the engine on a paced source for `duration` seconds and return its metrics. `listeners` are
    subscribed to the engine too (a session recorder, for a soak that records); `after_first_prediction`
    starts the `duration` at the first prediction (after the model's start, up to `start_timeout` s)."""
    from slowfast_core import create_model
    from slowfast_core.stream.engine import Engine, EngineSettings
    from slowfast_core.video.file_source import FileSource
    from slowfast_core.video.sources import FrameSource
    from slowfast_core.video.synthetic import SyntheticSource

    if duration <= 0 or fps <= 0:
        raise ConfigError("--duration and --fps must be positive")
    check_short_side(size, "--size")
    torch.manual_seed(0)  # the same random weights every run: a backend's converted-model cache stays warm
    model = create_model(arch, input_size=size)
    progress = _Progress(quiet)
    with tempfile.TemporaryDirectory(prefix="slowfast-bench-") as tmp:
        source: FrameSource
        if source_kind == "file":
            clip = Path(tmp) / "bench.mp4"
            _write_clip(clip, width=width, height=height, fps=fps)
            source = FileSource(clip, paced=True, loop=True)
        else:
            source = SyntheticSource(width, height, fps)
        engine = Engine(EngineSettings(stride_s=stride, device=device, backend=backend, features=features))
        engine.subscribe(progress)
        for listener in listeners:
            engine.subscribe(listener)
        engine.start(source, model)
        try:
            if after_first_prediction:
                progress.first_prediction.wait(start_timeout)
            engine.wait(duration)
        finally:
            stopped_in = time.monotonic()
            clean = engine.stop(timeout=2.0)
            stopped_in = time.monotonic() - stopped_in
        metrics = engine.metrics()
    metrics.update({
        "arch": arch, "size": size, "requested_fps": fps, "width": width, "height": height,
        "source_kind": source_kind, "stride_s": stride, "features": features,
        # what a session records per minute for Teach: one row (span + float16 feature) per prediction
        "feature_bytes_per_min": round(metrics["predictions_per_s"] * 60 * (16 + 2 * model.config.head_in_features))
        if features else 0, "stop_s": round(stopped_in, 3), "stopped_cleanly": clean,
        "errors": [e.message for e in progress.errors],
        "threads_left": [t.name for t in threading.enumerate() if t.name.startswith("slowfast-")],
    })
    return metrics


def format_metrics(m: dict[str, Any]) -> str:
    """The metrics as a short human-readable report."""
    def ms(key: str) -> str:
        p50, p95 = m.get(f"{key}_ms_p50"), m.get(f"{key}_ms_p95")
        return "-" if p50 is None else f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"

    lines = [
        f"pipeline: {m['arch']} at {m['size']}, {m['backend']} on {m['device']}; source {m['source']} "
        f"({m['source_kind']}), stride {m['stride_s']} s, {m['duration_s']:.1f} s",
        f"  capture      {m['capture_fps']:.2f} fps, {m['frames_read']} frames, {m['frames_dropped']} dropped, "
        f"{m['frames_late']} late",
        f"  predictions  {m['predictions']} ({m['predictions_per_s']:.2f}/s), {m['windows_dropped_stale']} windows "
        "dropped as stale",
        f"  inference    {ms('inference')}",
        f"  end-to-end   {ms('end_to_end')}",
        f"  overhead     {ms('overhead')}   (end-to-end - inference)",
        f"  waited       {ms('waited')};  prepared {ms('prepared')}",
        f"  memory       RSS {m['rss_start_mb']:.0f} MiB at start, {m['rss_warm_mb'] or 0:.0f} MiB at the first "
        f"prediction, {m['rss_end_mb']:.0f} MiB at end (peak {m['rss_peak_mb']:.0f}); "
        f"ring buffer {m.get('ring_buffer_mb', 0):.1f} MiB",
        f"  features     {'recorded: ' + format(m['feature_bytes_per_min'] / 1e6, '.2f') + ' MB per minute of session' if m.get('features') else 'off (--no-features)'}",
        f"  stop         {m['stop_s']:.2f} s, "
        + ("clean" if m["stopped_cleanly"] else f"threads left: {m['threads_left']}"),
    ]
    if m["errors"]:
        lines.append(f"  errors       {len(m['errors'])}: {m['errors'][0]}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry point of `slowfast bench pipeline`."""
    if getattr(args, "detect", False):  # issue 23: the per-person path's costs (bench/detect.py)
        from slowfast_core.bench.detect import pipeline_detect

        return pipeline_detect(args)
    metrics = run_pipeline(
        arch=args.arch, size=args.size, duration=args.duration, fps=args.fps, width=args.width, height=args.height,
        source_kind=args.source, stride=args.stride, device=args.device, backend=args.backend, quiet=args.quiet,
        features=not args.no_features,
    )
    print(format_metrics(metrics))
    if args.json:
        Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return 0
