"""Real recorded sessions for tests: a `SessionRecorder` fed synthetic frames (frame i uniformly `gray(i)`),
labels and predictions at given session times, so that what is read back can be checked frame by frame."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from slowfast_core.sessions import SessionRecorder

from helpers.media import frame_packet, make_prediction

FPS = 30.0
WIDTH, HEIGHT = 160, 120
CLOCK0 = 5000.0  # the engine's clock is whatever it is: session time 0 is the first frame


def start_recorder(root: Path, **overrides: object) -> SessionRecorder:
    """A recorder with the tests' small geometry and a queue that holds a whole fast-fed test."""
    args: dict[str, object] = dict(name="test session", labels=["wave", "clap", "jump"], source="synthetic",
                                   fps=FPS, width=WIDTH, height=HEIGHT, model="tiny", weights=None,
                                   program_version="9.9", min_free_bytes=0, queue_seconds=30.0)
    args.update(overrides)
    return SessionRecorder.start(root, **args)  # type: ignore[arg-type]


def record_session(root: Path, name: str, n: int, *, labels: Sequence[str] = ("wave", "clap"),
                   marks: Sequence[tuple[str, float, float]] = (),
                   predictions: Sequence[tuple[str, float, float]] = (), fps: float = FPS,
                   size: tuple[int, int] = (WIDTH, HEIGHT), stop: bool = True) -> SessionRecorder:
    """Record `n` frames (frame i at session time i/fps), then the labeled segments `marks` and the
    predictions `predictions`, each (label, start, end) in session seconds; stopped unless `stop=False`."""
    width, height = size
    rec = start_recorder(root, name=name, labels=list(labels), fps=fps, width=width, height=height)
    for i in range(n):
        rec.on_frame(frame_packet(i, CLOCK0 + i / fps, width=width, height=height, fps=fps))
    for label, start, end in marks:
        rec.mark(label, at=CLOCK0 + start)
        rec.end_mark(at=CLOCK0 + end)
    for k, (label, start, end) in enumerate(predictions):
        rec.on_prediction(make_prediction(k, CLOCK0 + start, CLOCK0 + end, ((label, 0.8), ("other", 0.1)),
                                          label=label, last_index=int(end * fps)))
    if stop:
        rec.stop()
    return rec


CRASH_RECORDER = Path(__file__).with_name("crash_recorder.py")


@dataclass(frozen=True)
class Crash:
    """What a killed `crash_recorder.py` had reported: its session folder, each handed-over frame's session
    time (frame 0 at 0), and how many frames were in closed (crash-safe) segments when it was killed."""

    session: Path
    times: dict[int, float]
    written: int

    @property
    def handed_over(self) -> int:
        return len(self.times)


def crash_recording(root: Path, *, frames: int, fps: float = FPS, segment_s: float = 1.0,
                    size: tuple[int, int] = (WIDTH, HEIGHT), mark_at: int = 20, timeout: float = 120.0,
                    cwd: Path | None = None) -> Crash:
    """Record `frames` frames at `fps` in a child process, then SIGKILL it while it records with a segment
    open (a crash, mid-recording)."""
    proc = subprocess.Popen(
        [sys.executable, str(CRASH_RECORDER), str(root), "--frames", str(frames), "--fps", str(fps),
         "--segment", str(segment_s), "--size", f"{size[0]}x{size[1]}", "--mark-at", str(mark_at)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    stamps: dict[int, float] = {}
    session: Path | None = None
    written = -1
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in proc.stdout:
            parts = line.split()
            if parts[0] == "started":
                session = Path(parts[1])
            elif parts[0] == "frame":
                stamps[int(parts[1])] = float(parts[2])
            elif parts[0] == "idle":
                written = int(parts[2])
                break
            assert time.monotonic() < deadline, "the recording child did not get there in time"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL, stderr
    assert session is not None and len(stamps) == frames and written >= 0, stderr
    origin = stamps[0]
    return Crash(session, {i: t - origin for i, t in stamps.items()}, written)
