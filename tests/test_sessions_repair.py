"""Crash safety for real: a child process (helpers/crash_recorder.py) records from a synthetic frame generator
at its real rate and is killed with SIGKILL mid-recording; the next start finds the session and repairs it.

The promise under test (README): a crash loses at most the last segment. Precisely (the recorder's doc):
every frame in a closed segment is kept, and what is lost is the open segment (at most `segment_seconds`)
plus frames still queued for the writer. The child is killed once its writer has caught up (every full
segment closed), so the bound under test is exactly one segment, computed from the segment length.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.sessions import SessionError, find_unfinished, load_session, repair_session

from helpers.media import gray, read_video
from helpers.sessions import crash_recording, start_recorder

FPS = 30.0
SEGMENT_S = 1.0
SEGMENT_FRAMES = round(FPS * SEGMENT_S)  # what one segment holds: the most a crash may lose

def test_sigkill_mid_recording_is_repaired_losing_at_most_the_last_segment(tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    crash = crash_recording(root, frames=100, fps=FPS, segment_s=SEGMENT_S)  # 3.3 s: 3 segments and a third
    session, reported = crash.session, crash.times
    assert crash.written == 90  # three full segments closed; frames 90-99 in the open one

    state = json.loads((session / "session.json").read_text())["state"]
    assert state == "recording" and not (session / "video.mp4").exists()
    assert [i.path for i in find_unfinished(root)] == [session]

    report = repair_session(session)
    assert report.repaired and report.segments_unreadable <= 1 and report.open_label_closed

    s = load_session(session)
    assert s.info.state == "repaired" and s.video_path is not None
    frames = read_video(s.video_path)
    assert len(frames) == len(s.frames) == report.frames_kept == s.info.frames
    assert frames[0].shape == (120, 160, 3)
    # the promise: everything in closed segments is kept, and at most the last segment is lost
    assert report.frames_kept >= crash.written
    lost = crash.handed_over - report.frames_kept
    assert 0 <= lost < SEGMENT_FRAMES, (crash.handed_over, crash.written, report.frames_kept)
    last_kept = float(s.frames.time[-1])
    assert max(reported.values()) - last_kept <= SEGMENT_S  # in time: the last segment's second at most
    # frames are the child's frames, in order, with the times it reported
    np.testing.assert_array_equal(s.frames.frame, np.arange(len(frames)))
    np.testing.assert_array_equal(s.frames.source_index, np.arange(len(frames)))
    np.testing.assert_allclose(s.frames.time, [reported[i] for i in range(len(frames))], atol=2e-6)
    for k in (0, len(frames) // 2, len(frames) - 1):
        assert abs(float(frames[k].mean()) - gray(k)) < 12, k
    # the label open at the kill is closed at the last frame; predictions end within the video
    (label,) = s.labels
    assert label.label == "wave" and label.start == pytest.approx(reported[20], abs=1e-5)
    assert label.end == pytest.approx(last_kept, abs=1e-5)
    assert s.predictions and all(p.end <= last_kept + 0.5 / FPS + 1 / 30 for p in s.predictions)  # span end: +1/30
    assert report.predictions_kept == len(s.predictions)
    # nothing left to do at the next start
    assert find_unfinished(root) == []
    assert not (session / "segments").exists() and not (session / "current_label.json").exists()
    again = repair_session(session)
    assert not again.repaired and "already finished" in again.summary()


def test_repair_salvages_the_readable_segments_around_a_corrupt_one(tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    crash = crash_recording(root, frames=110, fps=FPS, segment_s=SEGMENT_S)
    session, reported = crash.session, crash.times
    segments = sorted((session / "segments").glob("*.mp4"))
    assert len(segments) >= 3
    segments[1].write_bytes(segments[1].read_bytes()[:200])  # a damaged middle segment
    report = repair_session(session)
    s = load_session(session)
    frames = read_video(s.video_path)
    assert len(frames) == len(s.frames) == report.frames_kept
    assert report.segments_unreadable >= 1 and report.frames_lost >= SEGMENT_FRAMES
    assert 1 not in set(s.frames.segment.tolist()) and {0, 2} <= set(s.frames.segment.tolist())
    # frames after the gap are still the right ones at the right times
    k = int(np.flatnonzero(s.frames.segment == 2)[0])
    src = int(s.frames.source_index[k])
    assert s.frames.time[k] == pytest.approx(reported[src], abs=2e-6)
    assert abs(float(frames[k].mean()) - gray(src)) < 12


def test_repair_refuses_a_session_that_is_still_recording(tmp_path: Path) -> None:
    rec = start_recorder(tmp_path, name="live", labels=["wave"])
    try:
        with pytest.raises(SessionError, match="still being recorded"):
            repair_session(rec.path)
    finally:
        rec.stop()


def test_repair_of_a_folder_without_session_json_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="not a session folder") as err:
        repair_session(tmp_path)
    assert "\n" not in str(err.value)
