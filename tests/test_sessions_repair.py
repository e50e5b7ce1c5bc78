"""Crash safety for real: a child process records from a synthetic frame generator at its real rate and is
killed with SIGKILL mid-recording; the next start finds the session and repairs it, losing at most ~2 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.sessions import SessionError, SessionRecorder, find_unfinished, load_session, repair_session

FPS = 30.0
SEGMENT_S = 1.0

CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from slowfast_core.sessions import SessionRecorder
    from slowfast_core.stream.types import FramePacket, Prediction, Timings

    fps = float(sys.argv[2])
    rec = SessionRecorder.start(sys.argv[1], name="crash test", labels=["wave", "clap"], source="synthetic",
                                fps=fps, width=160, height=120, model="tiny", min_free_bytes=0,
                                segment_seconds=float(sys.argv[3]))
    print("started", rec.path, flush=True)
    i, due = 0, time.monotonic()
    while True:
        now = time.monotonic()
        img = np.full((120, 160, 3), 30 + (i * 37) % 200, np.uint8)
        rec.on_frame(FramePacket(index=i, timestamp=now, image=img, source_fps=fps))
        if i == 20:
            rec.mark("wave", at=now)
        if i % 10 == 9:
            rec.on_prediction(Prediction(id=i, start_time=now - 0.5, end_time=now, first_index=i - 15,
                                         last_index=i, topk=(("wave", 0.8),), probs=np.zeros(2, np.float32),
                                         label="wave", confidence=0.8, timings=Timings(1, 1, 1, 1)))
        print(f"frame {i} {now:.6f}", flush=True)  # the capture timestamp, handed over
        i += 1
        due += 1.0 / fps
        time.sleep(max(0.0, due - time.monotonic()))
""")


def kill_mid_recording(root: Path, tmp_path: Path, *, frames: int) -> tuple[Path, dict[int, float]]:
    """Run the child until it reports `frames` frames handed over, SIGKILL it; return (session, {index: session
    time}), session time 0 being frame 0's timestamp."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(root), str(FPS), str(SEGMENT_S)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reported: dict[int, float] = {}
    session = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            parts = line.split()
            if parts[0] == "started":
                session = Path(parts[1])
            elif parts[0] == "frame":
                reported[int(parts[1])] = float(parts[2])  # monotonic; session time 0 is frame 0's
                if len(reported) >= frames:
                    break
            assert time.monotonic() < deadline, "the child did not report in time"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert session is not None and len(reported) >= frames, proc.stderr.read() if proc.stderr else ""
    origin = reported[0]
    return session, {i: t - origin for i, t in reported.items()}


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from `path`."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} does not open"
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def test_sigkill_mid_recording_is_repaired_losing_at_most_two_seconds(tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    session, reported = kill_mid_recording(root, tmp_path, frames=100)  # ~3.3 s at 30 fps
    last_reported = max(reported.values())

    state = json.loads((session / "session.json").read_text())["state"]
    assert state == "recording" and not (session / "video.mp4").exists()
    assert [i.path for i in find_unfinished(root)] == [session]

    report = repair_session(session)
    assert report.repaired and report.segments_unreadable <= 1 and report.open_label_closed

    s = load_session(session)
    assert s.info.state == "repaired" and s.video_path is not None
    frames = decoded_frames(s.video_path)
    assert len(frames) == len(s.frames) == report.frames_kept == s.info.frames
    assert frames[0].shape == (120, 160, 3)
    # what was lost: at most ~2 s plus one segment relative to what the child had handed over
    last_kept = float(s.frames.time[-1])
    assert last_reported - last_kept <= 2.0 + SEGMENT_S, (last_reported, last_kept)
    assert report.frames_kept >= 30
    # frames are the child's frames, in order, with the times it reported
    np.testing.assert_array_equal(s.frames.frame, np.arange(len(frames)))
    np.testing.assert_array_equal(s.frames.source_index, np.arange(len(frames)))
    np.testing.assert_allclose(s.frames.time, [reported[i] for i in range(len(frames))], atol=2e-6)
    for k in (0, len(frames) // 2, len(frames) - 1):
        assert abs(float(frames[k].mean()) - (30 + (k * 37) % 200)) < 12, k
    # the label open at the kill is closed at the last frame; predictions end within the video
    (label,) = s.labels
    assert label.label == "wave" and label.start == pytest.approx(reported[20], abs=1e-5)
    assert label.end == pytest.approx(last_kept, abs=1e-5)
    assert s.predictions and all(p.end <= last_kept + 0.5 / FPS for p in s.predictions)
    assert report.predictions_kept == len(s.predictions)
    # nothing left to do at the next start
    assert find_unfinished(root) == []
    assert not (session / "segments").exists() and not (session / "current_label.json").exists()
    again = repair_session(session)
    assert not again.repaired and "already finished" in again.summary()


def test_repair_salvages_the_readable_segments_around_a_corrupt_one(tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    session, reported = kill_mid_recording(root, tmp_path, frames=110)
    segments = sorted((session / "segments").glob("*.mp4"))
    assert len(segments) >= 3
    segments[1].write_bytes(segments[1].read_bytes()[:200])  # a damaged middle segment
    report = repair_session(session)
    s = load_session(session)
    frames = decoded_frames(s.video_path)
    assert len(frames) == len(s.frames) == report.frames_kept
    assert report.segments_unreadable >= 1 and report.frames_lost >= 30
    assert 1 not in set(s.frames.segment.tolist()) and {0, 2} <= set(s.frames.segment.tolist())
    # frames after the gap are still the right ones at the right times
    k = int(np.flatnonzero(s.frames.segment == 2)[0])
    src = int(s.frames.source_index[k])
    assert s.frames.time[k] == pytest.approx(reported[src], abs=2e-6)
    assert abs(float(frames[k].mean()) - (30 + (src * 37) % 200)) < 12


def test_repair_refuses_a_session_that_is_still_recording(tmp_path: Path) -> None:
    rec = SessionRecorder.start(tmp_path, name="live", labels=["wave"], source="synthetic", fps=FPS, width=160,
                                height=120, model="tiny", min_free_bytes=0)
    try:
        with pytest.raises(SessionError, match="still being recorded"):
            repair_session(rec.path)
    finally:
        rec.stop()


def test_repair_of_a_folder_without_session_json_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="not a session folder") as err:
        repair_session(tmp_path)
    assert "\n" not in str(err.value)
