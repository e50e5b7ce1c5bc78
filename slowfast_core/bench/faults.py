"""The faults `slowfast bench soak` injects, and what each one loses (see slowfast_core.bench.soak's doc):
a camera stall and drop-out under a running engine, a full disk and a SIGKILL while recording (each recording
in a child process of its own: slowfast_core.bench.recording_child)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from slowfast_core.children import child_env
from slowfast_core.errors import ConfigError
from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction

#: how long each camera fault lasts
FAULT_SECONDS = 2.0
#: longest wait for a model to start (load, convert, warm up) or an engine to come back
START_TIMEOUT_S = 300.0


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
    import torch

    from slowfast_core import create_model
    from slowfast_core.stream.engine import Engine, EngineSettings
    from slowfast_core.video.synthetic import SyntheticSource

    torch.manual_seed(0)
    model = create_model(arch, input_size=size)
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

CHILD = [sys.executable, "-m", "slowfast_core.bench.recording_child"]


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
        child = " ".join(f'"{part}"' for part in CHILD)
        # the child fills a small tmpfs (a filler file written first) with a busy scene, then frees space by
        # deleting the filler and repairs, still inside the namespace: what a user does after the full-disk
        # banner. The room left scales with the frame size, so that a few ~1 s segments fit before it is full.
        room = max(1, round(width * height / (160 * 120))) << 20
        script = (f'mount -t tmpfs -o size={3 * room} tmpfs "{disk}" && '
                  f'head -c {2 * room} /dev/zero > "{disk}/filler" && '
                  f'{child} record "{disk}/sessions" {fps} {width} {height} fill {limit} && '
                  f'rm "{disk}/filler" && {child} repair "$(ls -d "{disk}"/sessions/*)"')
        done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=180,
                              env=child_env())
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
    from slowfast_core.video.synthetic import SyntheticSource

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

    proc = subprocess.Popen([*CHILD, "record", str(work / "sessions"), str(fps), str(width), str(height),
                             "kill", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
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
