"""`slowfast bench soak`: a long run of the real-time engine, then injected faults and what each one loses.

The soak is `slowfast bench pipeline` (a paced synthetic camera through the engine with a real model) for
--duration seconds, optionally recording the session too (--record), plus what a long run leaks: resident
memory at the first prediction and at the end, and the process's open files and threads before the start
and after the stop.

The faults, each on a fresh engine or recorder (--no-faults skips them):
- camera stall: the synthetic camera stops delivering for 2 s (reads block) and comes back;
- camera gone: it fails like an unplugged camera for 2 s and is reopened with back-off;
- disk full while recording: a child process records into a small tmpfs until the disk fills (a real ENOSPC,
  in a user and mount namespace; where that is not allowed, the recorder's free-space guard trips instead),
  then space is freed and the session repaired;
- SIGKILL while recording: a child process records at the camera's pace and is killed; the session is
  repaired as at the next start.
Each prints what was lost, in seconds of video, and how long the engine took to come back. The faults live in
slowfast_core.bench.faults.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

from slowfast_core.bench.faults import START_TIMEOUT_S, camera_faults, disk_full_fault, sigkill_fault
from slowfast_core.errors import ConfigError
from slowfast_core.model.config import arch_names
from slowfast_core.spec import check_short_side


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `slowfast bench soak`."""
    p.add_argument("--arch", default="slowfast_4x16_r50", choices=arch_names(), metavar="NAME",
                   help="architecture, random weights (default: %(default)s)")
    p.add_argument("--size", type=int, default=160, help="model input short side (default: %(default)s)")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds of soak after the first prediction; 0: only the faults (default: %(default)s)")
    p.add_argument("--fps", type=float, default=30.0, help="camera frame rate (default: %(default)s)")
    p.add_argument("--width", type=int, default=640, help="camera width (default: %(default)s)")
    p.add_argument("--height", type=int, default=480, help="camera height (default: %(default)s)")
    p.add_argument("--stride", type=float, default=0.5, help="seconds between windows (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--backend", default="auto", help="inference backend (default: fastest available)")
    p.add_argument("--record", action="store_true", help="also record the soak as a session (in a temp folder)")
    p.add_argument("--no-faults", dest="faults", action="store_false", help="only the soak, no injected faults")
    p.add_argument("--json", default=None, metavar="OUT", help="also write every figure as JSON to OUT")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr while running")


# ------------------------------------------------------------------------------------------------------ soak


def process_resources() -> dict[str, int]:
    """Open file descriptors (or handles) and threads of this process right now."""
    import psutil

    proc = psutil.Process()
    try:
        files = proc.num_fds()
    except AttributeError:  # Windows
        files = proc.num_handles()
    return {"open_files": int(files), "threads": threading.active_count()}


def thread_names() -> list[str]:
    """The names of the Python threads alive now."""
    return sorted(t.name for t in threading.enumerate())


def run_soak(*, arch: str, size: int, duration: float, fps: float, width: int, height: int, stride: float,
             device: str, backend: str, record: bool, quiet: bool) -> dict[str, Any]:
    """The pipeline bench for `duration` s (recording it when `record`), plus resources before and after."""
    from slowfast_core.bench.pipeline import run_pipeline

    gc.collect()
    before = process_resources()
    recorded: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="slowfast-soak-") as tmp:
        listeners = []
        if record:
            from slowfast_core.sessions import SessionRecorder

            recorder = SessionRecorder.start(tmp, name="soak", labels=["soak"], source="synthetic", fps=fps,
                                             width=width, height=height, model=arch, min_free_bytes=0)
            listeners.append(recorder)
        metrics = run_pipeline(arch=arch, size=size, duration=duration, fps=fps, width=width, height=height,
                               source_kind="synthetic", stride=stride, device=device, backend=backend, quiet=quiet,
                               listeners=listeners, after_first_prediction=True, start_timeout=START_TIMEOUT_S)
        if record:
            info = recorder.stop()
            recorded = {"recorded_s": info.duration, "recorded_frames": info.frames,
                        "recorder_dropped": info.frames_dropped, "recording_error": info.error}
    gc.collect()
    after = process_resources()
    metrics["threads_after_stop"] = thread_names()
    warm, end = metrics.get("rss_warm_mb"), metrics.get("rss_end_mb")
    metrics.update(recorded)
    metrics.update({
        "open_files_start": before["open_files"], "open_files_end": after["open_files"],
        "threads_start": before["threads"], "threads_end": after["threads"],
        "rss_growth_after_warmup_pct": round(100.0 * (end - warm) / warm, 2) if warm else None,
    })
    return metrics


# ------------------------------------------------------------------------------------------------------ report


def format_report(soak: dict[str, Any] | None, faults: list[dict[str, Any]]) -> str:
    """The figures as a short human-readable report."""
    lines = [] if soak is None else _soak_lines(soak)
    if faults:
        lines.append("faults:")
    for f in faults:
        lines.append(_fault_line(f))
    return "\n".join(lines)


def _soak_lines(m: dict[str, Any]) -> list[str]:
    """The soak's part of the report."""

    def ms(key: str) -> str:
        p50, p95 = m.get(f"{key}_ms_p50"), m.get(f"{key}_ms_p95")
        return "-" if p50 is None else f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"

    growth = m.get("rss_growth_after_warmup_pct")
    lines = [
        f"soak: {m['arch']} at {m['size']}, {m['backend']} on {m['device']}; source {m['source']}, stride "
        f"{m['stride_s']} s, {m['duration_s']:.1f} s",
        f"  memory       RSS {m['rss_warm_mb'] or 0:.0f} MiB at the first prediction, {m['rss_end_mb']:.0f} MiB at "
        f"the end ({'-' if growth is None else f'{growth:+.1f}%'}), peak {m['rss_peak_mb']:.0f} MiB",
        f"  capture      {m['frames_read']} frames at {m['capture_fps']:.2f} fps, {m['frames_dropped']} dropped",
        f"  predictions  {m['predictions']} ({m['predictions_per_s']:.2f}/s), {m['windows_dropped_stale']} stale "
        "windows dropped",
        f"  inference    {ms('inference')};  overhead {ms('overhead')}",
        f"  resources    open files {m['open_files_start']} before, {m['open_files_end']} after the stop; "
        f"threads {m['threads_start']} before, {m['threads_end']} after ({', '.join(m['threads_after_stop'])})",
        f"  stop         {m['stop_s']:.2f} s, " + ("clean" if m["stopped_cleanly"] else f"left {m['threads_left']}"),
    ]
    if "recorded_s" in m:
        lines.append(f"  recording    {m['recorded_s']:.1f} s, {m['recorded_frames']} frames, "
                     f"{m['recorder_dropped']} dropped" + (f"; {m['recording_error']}" if m["recording_error"] else ""))
    if m["errors"]:
        lines.append(f"  errors       {len(m['errors'])}: {m['errors'][0]}")
    return lines


def _fault_line(f: dict[str, Any]) -> str:
    """One fault's line of the report."""
    name = f["fault"]
    if "error" in f:
        return f"  {name:<24} not measured: {f['error']}"
    if name == "stop":
        return f"  {'stop after the faults':<24} {f['stop_s']:.2f} s"
    if name.startswith("camera"):
        back = f["prediction_back_after_s"]
        what = (f"recovered: frames {f['frames_back_after_s']:.2f} s and a prediction {back:.2f} s after the camera "
                f"came back; lost {f['lost_s']:.2f} s of video" if back is not None else "NOT recovered within 30 s")
        return f"  {name + ' ' + format(f['seconds'], '.0f') + ' s':<24} {what}; states {' > '.join(f['states'])}"
    if name == "disk full":
        why = (f["message"] or "no message").split(" while ")[0]
        return (f"  {'disk full':<24} the recording stopped itself ({why}; {f['method']}); kept {f['kept_s']:.2f} s "
                f"of {f['recorded_before_full_s']:.2f} s recorded: lost {f['lost_s']:.2f} s; stop took "
                f"{f['stop_s']:.2f} s")
    return (f"  {name:<24} repaired in {f['repair_s']:.2f} s: kept {f['kept_s']:.2f} s of {f['recorded_s']:.2f} s "
            f"handed over: lost {f['lost_s']:.2f} s (one segment is {f['segment_s']:.0f} s)")


def run(args: argparse.Namespace) -> int:
    """Entry point of `slowfast bench soak`."""
    check_short_side(args.size, "--size")
    if args.duration < 0 or args.fps <= 0:
        raise ConfigError("--duration must be 0 (faults only) or more, and --fps positive")
    if args.duration == 0 and not args.faults:
        raise ConfigError("--duration 0 with --no-faults measures nothing: give a duration or drop --no-faults")
    soak = run_soak(arch=args.arch, size=args.size, duration=args.duration, fps=args.fps, width=args.width,
                    height=args.height, stride=args.stride, device=args.device, backend=args.backend,
                    record=args.record, quiet=args.quiet) if args.duration > 0 else None
    faults: list[dict[str, Any]] = []
    if args.faults:
        faults += camera_faults(arch=args.arch, size=args.size, fps=args.fps, width=args.width, height=args.height,
                                stride=args.stride, device=args.device, backend=args.backend)
        with tempfile.TemporaryDirectory(prefix="slowfast-faults-") as tmp:
            (Path(tmp) / "full").mkdir()
            (Path(tmp) / "kill").mkdir()
            faults.append(disk_full_fault(fps=args.fps, width=args.width, height=args.height, work=Path(tmp) / "full"))
            faults.append(sigkill_fault(fps=args.fps, width=args.width, height=args.height, work=Path(tmp) / "kill"))
    print(format_report(soak, faults))
    if args.json:
        Path(args.json).write_text(json.dumps({"soak": soak, "faults": faults}, indent=2) + "\n", encoding="utf-8")
    return 0
