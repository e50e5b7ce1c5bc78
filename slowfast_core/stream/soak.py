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
Each prints what was lost, in seconds of video, and how long the engine took to come back.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from slowfast_core.errors import ConfigError
from slowfast_core.model.config import arch_names
from slowfast_core.spec import check_short_side
from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction

#: how long each camera fault lasts
FAULT_SECONDS = 2.0
#: longest wait for a model to start (load, convert, warm up) or an engine to come back
START_TIMEOUT_S = 300.0


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
    from slowfast_core.stream.bench import run_pipeline

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


# ------------------------------------------------------------------------------------------- camera faults


class _Watch:
    """Engine listener noting when frames and predictions arrive (time.monotonic())."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[float] = []  # capture timestamps
        self.predictions: list[float] = []  # publish times
        self.states: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.first = threading.Event()

    def on_frame(self, frame: FramePacket) -> None:
        with self.lock:
            self.frames.append(frame.timestamp)

    def on_prediction(self, prediction: Prediction) -> None:
        with self.lock:
            self.predictions.append(time.monotonic())
        self.first.set()

    def on_status(self, status: EngineStatus) -> None:
        with self.lock:
            if not self.states or self.states[-1][1] != status.state:
                self.states.append((time.monotonic(), status.state))

    def on_error(self, error: EngineError) -> None:
        with self.lock:
            self.errors.append(error.message)

    def after(self, t: float) -> tuple[float | None, float | None]:
        """(first frame, first prediction) at or after monotonic time `t`."""
        with self.lock:
            frame = next((x for x in self.frames if x >= t), None)
            pred = next((x for x in self.predictions if x >= t), None)
        return frame, pred

    def gap(self, start: float, end: float) -> float:
        """The longest time between two frames captured around [start, end]."""
        with self.lock:
            times = [x for x in self.frames if start - 1.0 <= x <= end + 5.0]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def camera_faults(*, arch: str, size: int, fps: float, width: int, height: int, stride: float, device: str,
                  backend: str) -> list[dict[str, Any]]:
    """A stall and a drop-out of the synthetic camera while the engine runs: recovery time and seconds lost."""
    from dataclasses import replace

    import torch

    from slowfast_core import create_model
    from slowfast_core.stream.engine import Engine, EngineSettings
    from slowfast_core.video.sources import SyntheticSource

    torch.manual_seed(0)
    model = create_model(arch)
    model.meta = replace(model.meta, preprocessing=replace(model.meta.preprocessing, short_side=size))
    source = SyntheticSource(width, height, fps)
    watch = _Watch()
    engine = Engine(EngineSettings(stride_s=stride, device=device, backend=backend))
    engine.subscribe(watch)
    engine.start(source, model)
    out = []
    try:
        if not watch.first.wait(START_TIMEOUT_S):
            raise ConfigError(f"the model made no prediction within {START_TIMEOUT_S:.0f} s: cannot inject faults")
        for name, inject in (("camera stall", source.stall), ("camera gone", source.drop_out)):
            time.sleep(2 * stride + 0.5)  # steady state first
            t0 = time.monotonic()
            inject(FAULT_SECONDS)
            back = t0 + FAULT_SECONDS
            deadline = back + 30.0
            frame, pred = watch.after(back)
            while (frame is None or pred is None) and time.monotonic() < deadline:
                time.sleep(0.05)
                frame, pred = watch.after(back)
            gap = watch.gap(t0, back)
            with watch.lock:
                states = [s for t, s in watch.states if t >= t0]
            out.append({
                "fault": name, "seconds": FAULT_SECONDS, "recovered": pred is not None,
                "states": list(dict.fromkeys(states)),
                "frames_back_after_s": None if frame is None else round(frame - back, 3),
                "prediction_back_after_s": None if pred is None else round(pred - back, 3),
                "lost_s": round(max(0.0, gap - 1.0 / fps), 3),  # no frame for this long: the video lost
            })
    finally:
        stopped = time.monotonic()
        engine.stop(timeout=2.0)
        stop_s = time.monotonic() - stopped
    for row in out:
        row["engine_errors"] = len(watch.errors)
    out.append({"fault": "stop", "stop_s": round(stop_s, 3)})
    return out


# ---------------------------------------------------------------------------------------- recording faults

_RECORD_CHILD = textwrap.dedent(r"""
    import json, sys, time
    import numpy as np
    from slowfast_core.sessions import SessionRecorder
    from slowfast_core.stream.types import FramePacket
    from slowfast_core.video.sources import SyntheticSource

    root, fps, width, height, mode = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    limit = float(sys.argv[6])
    rec = SessionRecorder.start(root, name=mode, labels=["a"], source="synthetic", fps=fps, width=width,
                                height=height, model="none", min_free_bytes=0)
    print(json.dumps({"session": str(rec.path)}), flush=True)
    source = SyntheticSource(width, height, fps)
    source.open()
    noise = np.random.default_rng(0)
    offered, t0 = 0, time.monotonic()
    while rec.error is None:
        frame = source.read()
        if frame is None:
            break
        now = time.monotonic()
        image = frame.image
        if mode == "fill":  # a busy scene (noise compresses badly): the small disk fills in seconds at any size
            image = image ^ noise.integers(0, 64, image.shape, dtype=np.uint8)
        rec.on_frame(FramePacket(index=offered, timestamp=now, image=image, source_fps=fps))
        offered += 1
        if mode == "kill":
            print(json.dumps({"frame": offered - 1, "t": now - t0}), flush=True)
        elif now - t0 > limit:
            break
    failed_at = time.monotonic()
    info = rec.stop(timeout=10.0)
    print(json.dumps({"offered": offered, "error": rec.error, "state": info.state, "frames": info.frames,
                      "stop_s": round(time.monotonic() - failed_at, 3)}), flush=True)
""")

_REPAIR_CHILD = textwrap.dedent(r"""
    import json, sys
    from pathlib import Path
    from slowfast_core.sessions import load_session, repair_session

    path = Path(sys.argv[1])
    report = repair_session(path)
    s = load_session(path)
    print(json.dumps({"kept_frames": len(s.frames), "repaired": report.repaired}), flush=True)
""")


def _child_env() -> dict[str, str]:
    """The environment for a child that must import this very slowfast_core."""
    here = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _can_mount_tmpfs() -> bool:
    """True where an unprivileged user and mount namespace (and so a private small tmpfs) is allowed."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _kept_seconds(session: Path) -> tuple[float, int]:
    """(session time of the last frame the repaired video holds, its frame count)."""
    from slowfast_core.sessions import load_session

    s = load_session(session)
    return (float(s.frames.time[-1]) if len(s.frames) else 0.0), len(s.frames)


def disk_full_fault(*, fps: float, width: int, height: int, work: Path) -> dict[str, Any]:
    """Record until the disk fills, free space, repair: what was lost, in seconds."""
    from slowfast_core.sessions import repair_session

    limit = 60.0  # seconds of recording at most, should the disk never fill
    if _can_mount_tmpfs():
        disk = work / "disk"
        disk.mkdir()
        (work / "record.py").write_text(_RECORD_CHILD)
        (work / "repair.py").write_text(_REPAIR_CHILD)
        py = sys.executable
        # the child fills a small tmpfs (a filler file written first) with a busy scene, then frees space by
        # deleting the filler and repairs, still inside the namespace: what a user does after the full-disk
        # banner. The room left scales with the frame size, so that a few ~1 s segments fit before it is full.
        room = max(1, round(width * height / (160 * 120))) << 20
        script = (f'mount -t tmpfs -o size={3 * room} tmpfs "{disk}" && '
                  f'head -c {2 * room} /dev/zero > "{disk}/filler" && '
                  f'"{py}" "{work}/record.py" "{disk}/sessions" {fps} {width} {height} fill {limit} && '
                  f'rm "{disk}/filler" && "{py}" "{work}/repair.py" "$(ls -d "{disk}"/sessions/*)"')
        done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=180,
                              env=_child_env())
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or len(rows) < 3:
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {"fault": "disk full", "method": "tmpfs", "error": why}
        recorded, repaired = rows[1], rows[2]
        offered_s = recorded["offered"] / fps
        return {"fault": "disk full", "method": f"tmpfs, {room >> 20} MiB free (real ENOSPC)",
                "message": recorded["error"],
                "recorded_before_full_s": round(offered_s, 3), "kept_s": round(repaired["kept_frames"] / fps, 3),
                "lost_s": round(offered_s - repaired["kept_frames"] / fps, 3), "stop_s": recorded["stop_s"]}
    # no private tmpfs here: the recorder's free-space guard trips instead (the disk is "full" at its limit)
    from slowfast_core.sessions import SessionRecorder
    from slowfast_core.video.sources import SyntheticSource

    rec = SessionRecorder.start(work, name="guard", labels=["a"], source="synthetic", fps=fps, width=width,
                                height=height, model="none", min_free_bytes=0)
    source = SyntheticSource(width, height, fps)
    source.open()
    offered = 0
    t_start = time.monotonic()
    while rec.error is None and time.monotonic() - t_start < limit:
        frame = source.read()
        if frame is None:
            break
        rec.on_frame(FramePacket(index=offered, timestamp=time.monotonic(), image=frame.image, source_fps=fps))
        offered += 1
        if offered == int(3 * fps):
            rec.min_free_bytes = 1 << 62  # the disk is now "almost full"
    source.close()
    stopped = time.monotonic()
    info = rec.stop()
    stop_s = time.monotonic() - stopped
    if info.unfinished:
        repair_session(info.path)
    _, kept = _kept_seconds(info.path)
    return {"fault": "disk full", "method": "free-space guard (no private tmpfs here)", "message": rec.error,
            "recorded_before_full_s": round(offered / fps, 3), "kept_s": round(kept / fps, 3),
            "lost_s": round((offered - kept) / fps, 3), "stop_s": round(stop_s, 3)}


def sigkill_fault(*, fps: float, width: int, height: int, work: Path, after_s: float = 5.0) -> dict[str, Any]:
    """Kill a recording process after `after_s` s with SIGKILL, repair the session: what was lost, in seconds."""
    from slowfast_core.sessions import repair_session

    script = work / "record.py"
    script.write_text(_RECORD_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(work / "sessions"), str(fps), str(width), str(height),
                             "kill", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_child_env())
    session, last = None, 0.0
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        for line in proc.stdout:
            row = json.loads(line)
            if "session" in row:
                session = Path(row["session"])
            elif "t" in row:
                last = row["t"]  # handed to the recorder: session time of that frame
                if last >= after_s:
                    break
            if time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    if session is None:
        return {"fault": "SIGKILL while recording", "error": (proc.stderr.read().strip().splitlines()
                                                              or ["the child did not start"])[-1]}
    started = time.monotonic()
    report = repair_session(session)
    repair_s = time.monotonic() - started
    kept_s, kept = _kept_seconds(session)
    return {"fault": "SIGKILL while recording", "recorded_s": round(last, 3), "kept_s": round(kept_s, 3),
            "lost_s": round(last - kept_s, 3), "segment_s": 1.0, "repair_s": round(repair_s, 3),
            "segments_unreadable": report.segments_unreadable}


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
