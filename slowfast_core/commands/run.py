"""`slowfast run`: the real-time engine without a GUI, one JSON line per prediction.

    slowfast run --source camera:0|camera:/dev/video0|file:PATH|synthetic[:WxH@FPS] [--realtime] ...

A file without --realtime is analysed offline: every frame, every window, the same windows and predictions
as `slowfast predict` with the same stride. With --realtime (and for cameras and the synthetic scene) the
engine runs live: latest-only windows, stale ones skipped; with --backend auto it starts on the backend that is
ready now and moves to the fastest once that is built in the background (slowfast_core.backends.policy, the
window's policy too). Ctrl-C or SIGTERM stop it within 2 s at any moment
(loading, converting or compiling the model, an inference in flight) with status 130 or 143; the JSONL lines
already written and the --metrics file are complete. Non-fatal engine events (a stalled camera, a reopen, a
backend that could not start) are logged on stderr; a fatal one ends the run with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from slowfast_core.commands.predict import add_model_arguments
from slowfast_core.errors import ConfigError, exit_status
from slowfast_core.spec import check_short_side
from slowfast_core.stream.types import EngineError
from slowfast_core.weights.api import load_model

logger = logging.getLogger(__name__)

#: predictions the --jsonl writer may fall behind before it drops some (and says so); an unpaced file's worker
#: makes tens a second at most, and writing a line takes microseconds
JSONL_QUEUE = 4096

#: seconds `stop()` may take before the run reports threads that did not end (the rest of the 2 s a signal
#: allows goes to flushing and the interpreter's exit)
STOP_TIMEOUT = 1.5
#: live stride when --stride is not given (offline runs use `slowfast predict`'s default, half a window)
LIVE_STRIDE = 0.5


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `run` subcommand."""
    p = sub.add_parser("run", help="run the real-time engine headless: one JSON line per prediction")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `slowfast run`."""
    p.add_argument("--source", default=None, metavar="SPEC",
                   help="camera:N, camera:/dev/videoN, file:PATH or synthetic[:WxH@FPS]")
    p.add_argument("--list-cameras", action="store_true", help="list the cameras that open, then exit")
    p.add_argument("--realtime", action="store_true",
                   help="play files at their own fps like a camera (default for files: every window, offline)")
    p.add_argument("--loop", action="store_true", help="start files again at their end")
    add_model_arguments(p)
    from slowfast_core.commands.predict_detect import add_detect_arguments  # issue 23: who is doing what

    add_detect_arguments(p, threshold=False)
    p.add_argument("--stride", default=None, metavar="S",
                   help=f"time between windows: seconds (0.5) or 30 fps frames (16f); default: {LIVE_STRIDE} s live, "
                   "half a window offline (as `slowfast predict`)")
    p.add_argument("--topk", type=int, default=5, help="labels per prediction (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.2,
                   help="smoothed probability under which the label is null (default: %(default)s)")
    p.add_argument("--smoothing", type=int, default=3, help="predictions averaged for the label (default: %(default)s)")
    p.add_argument("--jsonl", default=None, metavar="OUT", help="write the JSON lines to OUT instead of stdout")
    p.add_argument("--metrics", default=None, metavar="OUT", help="write the run's metrics as JSON to OUT at the end")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop S seconds after the start (the model's start-up included)")


class _EventLog:
    """Subscriber that reports engine errors on stderr (through logging) and remembers the fatal one."""

    def __init__(self) -> None:
        self.fatal: EngineError | None = None

    def on_error(self, error: EngineError) -> None:
        if error.fatal:
            self.fatal = self.fatal or error
        else:
            logger.warning("%s", error.message)


def run(args: argparse.Namespace) -> int:
    """Entry point of `slowfast run`."""
    from slowfast_core.backends.base import resolve_device
    from slowfast_core.video.windows import default_stride, parse_stride
    from slowfast_core.stream.engine import Engine, EngineSettings
    from slowfast_core.stream.jsonl import JsonlWriter
    from slowfast_core.video.cameras import list_cameras
    from slowfast_core.video.source_text import parse_source

    if args.list_cameras:
        cameras = list_cameras()
        for camera in cameras:
            print(f"{camera.spec}  {camera.width}x{camera.height} @ {camera.fps:g} fps")
        if not cameras:
            print("no camera found: use --source synthetic or --source file:PATH")
        return 0
    if not args.source:
        raise ConfigError("no --source given: use camera:0, file:PATH or synthetic (see slowfast run --help)")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError(f"--duration must be positive seconds, got {args.duration}")
    stride_arg = parse_stride(args.stride) if args.stride is not None else None
    if args.size is not None:
        check_short_side(args.size, "--size")  # before anything is opened or built
    resolve_device(args.device)  # a bad --device fails before anything is opened or built
    source = parse_source(args.source, realtime=args.realtime, loop=args.loop)
    source.open()  # a missing camera or file fails here, before the model is built
    people = None
    try:
        if args.detect:  # per person: the engine is started with the detection backbone's classifier (not run)
            from slowfast_core.commands.predict_detect import detection_engine_parts

            model, people = detection_engine_parts(args, threshold=args.threshold)
            args.backend = "torch-eager" if args.backend == "auto" else args.backend
        else:
            model = load_model(arch=args.arch, weights=args.weights)
        prep = model.meta.preprocessing
        if args.size is not None:
            prep = replace(prep, short_side=args.size)
        if args.crop is not None:
            prep = replace(prep, crop=args.crop)
        if prep != model.meta.preprocessing:  # the engine runs a model at its meta's preprocessing
            from slowfast_core.model.builder import with_preprocessing

            model = with_preprocessing(model, prep)
        offline = not source.live
        stride = stride_arg if stride_arg is not None else (
            default_stride(model.config.geometry) if offline else LIVE_STRIDE)
        settings = EngineSettings(stride_s=stride, topk=args.topk, threshold=args.threshold, smoothing=args.smoothing,
                                  device=args.device, backend=args.backend, realtime=not offline)
        engine = Engine(settings)
    except BaseException:
        source.close()
        raise
    writer = JsonlWriter(Path(args.jsonl) if args.jsonl else sys.stdout)
    events = _EventLog()
    unsubscribe_writer = engine.subscribe(writer, queued=JSONL_QUEUE)  # a slow disk never holds the inference thread
    engine.subscribe(events)
    stop = threading.Event()
    signals: list[int] = []
    previous = _install_signal_handlers(stop, signals)
    clean = True
    # the deadline is set before the capture starts, so a run never sees more than --duration seconds of live video
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        engine.start(source, model, people=people)
    except BaseException:
        _restore_signal_handlers(previous)
        unsubscribe_writer()
        writer.close()
        source.close()
        raise
    if not model.meta.trained and people is None:
        logger.warning("%s has random weights (no --weights): predictions are meaningless; pass --weights "
                       "SLOWFAST_8x8_R50 or a name from `slowfast weights list`", model.config.name)
    ended = "signal"  # what ended the loop: "stream" (the source ended), "duration", or a signal/a broken writer
    try:
        while not stop.is_set() and not writer.broken.is_set():
            left = 0.1 if deadline is None else min(0.1, max(0.0, deadline - time.monotonic()))
            if engine.wait(left):  # wakes at the deadline itself, not up to 0.1 s after it
                ended = "stream"
                break
            if deadline is not None and time.monotonic() >= deadline:
                ended = "duration"
                break
    finally:
        clean = engine.stop(timeout=STOP_TIMEOUT)
        unsubscribe_writer()  # every line the engine published is written before the file closes
        writer.close()
        _restore_signal_handlers(previous)
        metrics = engine.metrics()
        if args.metrics:
            _write_metrics(Path(args.metrics), metrics)
    if not clean:  # the engine logged which; they end on their own once their current step is done
        logger.info("engine threads still finishing after %.1f s", STOP_TIMEOUT)
    status = exit_status(signals[0]) if signals else None  # `slowfast` then exits at once (cli.main)
    if isinstance(writer.error, BrokenPipeError):  # the reader left (e.g. `| head`): a normal end
        _silence_stdout()
        return 0 if status is None else status
    if writer.error is not None:
        where = args.jsonl or "standard output"
        print(f"slowfast: error: cannot write predictions to {where}: {writer.error.strerror or writer.error}; "
              f"{writer.lines} lines were written (free some space or choose another --jsonl)", file=sys.stderr)
        return 1 if status is None else status
    if events.fatal is not None:
        print(f"slowfast: error: {events.fatal.message}", file=sys.stderr)
        return 1 if status is None else status
    if status is not None:
        return status
    if writer.lines == 0 and ended in ("stream", "duration"):
        print(f"slowfast: error: no predictions: {_why_nothing(ended, args, metrics, model)}", file=sys.stderr)
        return 1
    return 0


def _why_nothing(ended: str, args: argparse.Namespace, metrics: dict[str, Any], model: Any) -> str:
    """Why a run that ended by itself (its source ended, or --duration ran out) produced no prediction."""
    geometry = model.config.geometry
    window = geometry.window_seconds
    frames = int(metrics.get("frames_read") or 0)
    fps = float(metrics.get("source_fps") or 0.0)
    started = bool(metrics.get("backend"))
    from slowfast_core.stream.scheduler import MIN_PADDED_COVERAGE

    first = MIN_PADDED_COVERAGE * window  # the first (padded) window needs this much video
    if ended == "stream":
        seen = f"{frames / fps:.2f} s ({frames} frames)" if fps > 0 else f"{frames} frames"
        return (f"the source ended after {seen}, before the model "
                + ("made its first prediction" if started else "had started") + "; use a longer clip or --loop")
    wait = "the model was still starting (loading, converting, warming up)" if not started \
        else f"less than {first:.2f} s of video had arrived"
    return (f"--duration {args.duration:g} s ran out before the first prediction: {wait}; the first prediction "
            f"needs at least {first:.2f} s of video (a padded quarter of a {window:.2f} s window) plus the model's "
            "start-up on this machine: use a longer --duration")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush into a closed pipe stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _install_signal_handlers(stop: threading.Event, signals: list[int]) -> dict[int, Any]:
    """SIGINT and SIGTERM set `stop` and are noted in `signals` (the main loop then stops the engine and
    flushes); returns the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)
        stop.set()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)


def _write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    """The metrics as one JSON object (written even after a signal, so a stopped run still reports)."""
    path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
