"""SessionRecorder: a real recording (writer thread, mp4v segments, join) read back with OpenCV; label
toggling; disk-full and writer failures that stop the recording with a message; rename and delete."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.errors import SlowFastError
from slowfast_core.sessions import (
    SessionError,
    SessionRecorder,
    delete_session,
    find_unfinished,
    list_sessions,
    load_session,
    rename_session,
)
from slowfast_core.stream.types import FramePacket, Prediction

from helpers.media import frame_packet, gray, make_prediction, read_video
from helpers.sessions import CLOCK0, FPS, HEIGHT, WIDTH, start_recorder
from helpers.waiting import wait_until

LABELS = ["wave", "clap", "jump"]


def frame(i: int, t: float, *, w: int = WIDTH, h: int = HEIGHT) -> FramePacket:
    """Synthetic frame i (uniformly gray(i)) captured at engine time t."""
    return frame_packet(i, t, width=w, height=h, fps=FPS)


def prediction(pid: int, start: float, end: float, label: str | None = "wave") -> Prediction:
    """A prediction for the window [start, end] (engine seconds)."""
    return make_prediction(pid, start, end, (("wave", 0.7), ("clap", 0.2)), label=label, num_classes=2,
                           backend="torch")


def start(root: Path, **kw: object) -> SessionRecorder:
    return start_recorder(root, **{"labels": LABELS, **kw})


def test_round_trip_video_frames_labels_predictions(tmp_path: Path) -> None:
    rec = start(tmp_path)
    t0 = CLOCK0
    n = 100
    for i in range(n):
        rec.on_frame(frame(i, t0 + i / FPS))
    rec.mark("wave", at=t0 + 0.5)
    assert rec.current_label == "wave"
    rec.mark("clap", at=t0 + 1.0)  # another label: ends wave, starts clap
    assert rec.current_label == "clap"
    rec.mark("clap", at=t0 + 1.5)  # same label: ends it
    assert rec.current_label is None
    rec.mark("jump", at=t0 + 2.0)
    rec.end_mark(at=t0 + 2.5)
    rec.end_mark(at=t0 + 2.6)  # nothing open: no-op
    rec.on_prediction(prediction(7, t0 + 0.2, t0 + 1.2))
    rec.on_prediction(prediction(8, t0 + 0.4, t0 + 1.4, label=None))
    info = rec.stop()

    assert info.state == "finished" and info.error is None
    assert info.frames == n and info.frames_dropped == 0
    assert info.duration == pytest.approx((n - 1) / FPS, abs=1e-5) and info.clock_origin == CLOCK0
    assert rec.stop() is info  # idempotent
    data = json.loads((info.path / "session.json").read_text())
    assert data["state"] == "finished" and data["labels"] == LABELS and data["fps"] == FPS
    assert (data["width"], data["height"], data["model"], data["program_version"]) == (WIDTH, HEIGHT, "tiny", "9.9")
    assert datetime.fromisoformat(data["start_time"]).tzinfo is not None
    assert not (info.path / "segments").exists()

    s = load_session(info.path)
    frames = read_video(s.video_path)
    assert len(frames) == n == len(s.frames)
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(s.frames.frame, np.arange(n))
    np.testing.assert_array_equal(s.frames.source_index, np.arange(n))
    np.testing.assert_allclose(s.frames.time, np.arange(n) / FPS, atol=1e-5)
    assert s.frames.segment.max() == 3  # 30-frame segments: 0..2 full, 3 partial
    for k in (0, 29, 30, 57, 99):  # frame k of the video is source frame k
        assert abs(float(frames[k].mean()) - gray(k)) < 12, k
    assert [(seg.label, round(seg.start, 4), round(seg.end, 4)) for seg in s.labels] == [
        ("wave", 0.5, 1.0), ("clap", 1.0, 1.5), ("jump", 2.0, 2.5)]
    assert [p.window for p in s.predictions] == [7, 8]
    p = s.predictions[0]
    # the span [first grid instant, last grid instant + 1/30), as `slowfast predict` writes it
    assert (round(p.start, 4), round(p.end, 4), p.label, p.topk[0]) == (0.2, round(1.2 + 1 / 30, 4), "wave", ("wave", 0.7))
    assert p.timings == {"waited_ms": 1.0, "prepared_ms": 2.0, "inferred_ms": 30.0, "end_to_end_ms": 40.0}
    assert s.predictions[1].label is None


def test_open_label_is_closed_at_the_last_frame_on_stop(tmp_path: Path) -> None:
    rec = start(tmp_path)
    t0 = CLOCK0
    for i in range(40):
        rec.on_frame(frame(i, t0 + i / FPS))
    rec.mark("jump", at=t0 + 0.3)
    info = rec.stop()
    (seg,) = load_session(info.path).labels
    assert seg.label == "jump" and seg.start == pytest.approx(0.3)
    assert seg.end == pytest.approx(39 / FPS, abs=1e-5)
    assert not (info.path / "current_label.json").exists()


def test_time_zero_is_the_first_frame_on_any_clock_and_jumps_back_continue(tmp_path: Path) -> None:
    rec = start(tmp_path)
    rec.on_prediction(prediction(1, 0.0, 0.5))  # before the first frame: outside the session
    rec.mark("wave")  # before the first frame: time 0
    assert rec.clock_origin is None
    for i in range(10):
        rec.on_frame(frame(i, 2.0 + i / FPS, w=320, h=240))  # media clock; the source is bigger than the session
    assert rec.clock_origin == 2.0 == rec.start_monotonic and rec.session_time(2.5) == pytest.approx(0.5)
    for i in range(10, 20):
        rec.on_frame(frame(i, (i - 10) / FPS))  # the file looped: its clock restarted at 0
    rec.mark("clap")  # default time: the newest frame's
    rec.on_prediction(prediction(2, 0.1, 0.2))  # in the restarted clock
    info = rec.stop()
    s = load_session(info.path)
    assert info.frames == 20 and info.clock_origin == 2.0
    np.testing.assert_allclose(s.frames.time, np.arange(20) / FPS, atol=1e-5)
    assert [(seg.label, round(seg.start, 4), round(seg.end, 4)) for seg in s.labels] == [
        ("wave", 0.0, round(19 / FPS, 4))]  # "clap" started at the last frame: nothing left of it
    (p,) = s.predictions
    assert p.window == 2 and p.start == pytest.approx(10 / FPS + 0.1, abs=1e-5)
    frames = read_video(s.video_path)
    assert len(frames) == 20 and frames[0].shape == (HEIGHT, WIDTH, 3)  # fitted to the session's 160x120


def test_a_session_is_unfinished_while_recording_but_not_offered_for_repair(tmp_path: Path) -> None:
    rec = start(tmp_path)
    (info,) = list_sessions(tmp_path)
    assert info.state == "recording" and info.unfinished
    assert find_unfinished(tmp_path) == []  # its recording process (this one) is alive
    with pytest.raises(SessionError, match="being recorded"):
        delete_session(rec.path)
    rec.stop()
    assert find_unfinished(tmp_path) == [] and list_sessions(tmp_path)[0].state == "finished"


def test_mark_rejects_a_label_outside_the_set(tmp_path: Path) -> None:
    rec = start(tmp_path)
    with pytest.raises(ValueError, match="dance"):
        rec.mark("dance")
    rec.stop()


@pytest.mark.parametrize(("kw", "match"), [
    ({"name": "  "}, "name is empty"),
    ({"labels": ["wave", "wave"]}, "twice"),
    ({"labels": ["wave", ""]}, "empty"),
    ({"min_free_bytes": 10**18}, "free some space"),
])
def test_start_refuses_bad_settings_with_one_line(tmp_path: Path, kw: dict, match: str) -> None:
    with pytest.raises(SessionError, match=match) as err:
        start(tmp_path, **kw)
    assert "\n" not in str(err.value) and isinstance(err.value, SlowFastError)
    assert list(tmp_path.iterdir()) == []  # nothing half-created


def test_start_refuses_a_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SessionError, match="cannot create the sessions folder"):
        start(tmp_path / "file" / "sessions")


def test_free_space_guard_stops_the_recording_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    messages: list[str] = []
    rec = start(tmp_path, on_error=messages.append)
    t0 = CLOCK0
    for i in range(45):
        rec.on_frame(frame(i, t0 + i / FPS))
    wait_until(lambda: rec.frames_written >= 30)  # the first segment is closed and on disk
    rec.min_free_bytes = 10**18  # "the disk is now almost full"
    for i in range(45, 120):  # the writer closes the second segment at frame 60 and checks the space
        rec.on_frame(frame(i, t0 + i / FPS))
    wait_until(lambda: bool(messages))  # on_error is the last thing the recorder does when it fails
    assert rec.error is not None and rec.error.startswith("disk almost full") and "recording stopped" in rec.error
    assert "\n" not in rec.error and messages == [rec.error]
    assert not rec.is_recording
    rec.on_frame(frame(500, t0 + 20.0))  # ignored from now on
    rec.mark("wave")  # ignored too, no exception
    info = rec.stop()
    assert info.error == messages[0]
    s = load_session(info.path)
    frames = read_video(s.video_path)
    assert 30 <= len(frames) == len(s.frames) == info.frames < 120
    assert 500 not in s.frames.source_index


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full is not available on this system")
def test_labels_file_on_a_full_disk_stops_with_a_message(tmp_path: Path) -> None:
    messages: list[str] = []
    rec = start(tmp_path, on_error=messages.append)
    t0 = CLOCK0
    for i in range(40):
        rec.on_frame(frame(i, t0 + i / FPS))
    wait_until(lambda: rec.frames_written >= 30)
    labels = rec.path / "labels.csv"
    labels.unlink()
    labels.symlink_to("/dev/full")  # every write returns ENOSPC
    rec.mark("wave", at=t0 + 0.2)
    rec.mark("clap", at=t0 + 0.6)  # ends "wave": its row cannot be written
    assert rec.error is not None and rec.error.startswith("disk full while writing")
    assert "labels.csv" in rec.error and "\n" not in rec.error and messages == [rec.error]
    assert not rec.is_recording
    info = rec.stop()
    labels.unlink()  # reading /dev/full never ends
    s = load_session(info.path)
    assert info.frames == len(s.frames) == len(read_video(s.video_path)) >= 30


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full is not available on this system")
def test_predictions_file_on_a_full_disk_stops_with_a_message(tmp_path: Path) -> None:
    messages: list[str] = []
    rec = start(tmp_path, on_error=messages.append)
    t0 = CLOCK0
    rec.on_frame(frame(0, t0))  # predictions count from the first frame on
    preds = rec.path / "predictions.jsonl"
    preds.unlink()
    preds.symlink_to("/dev/full")
    rec.on_prediction(prediction(1, t0, t0 + 0.5))
    assert rec.error is not None and "predictions.jsonl" in rec.error and messages == [rec.error]
    rec.on_prediction(prediction(2, t0, t0 + 0.5))  # no second report
    assert len(messages) == 1
    rec.stop()


class _DiskFillsInSegment:
    """A VideoWriter on a disk that fills while segment `full_at` is written: OpenCV reports no error and the
    file ends where the space ran out, before its index (what a real full disk leaves, see the tmpfs test)."""

    def __init__(self, writer: cv2.VideoWriter, path: Path, full_at: str) -> None:
        self.writer, self.path, self.full_at = writer, Path(path), full_at

    def write(self, image: np.ndarray) -> None:
        self.writer.write(image)

    def release(self) -> None:
        self.writer.release()
        if self.path.name == self.full_at:
            data = self.path.read_bytes()
            self.path.write_bytes(data[: len(data) // 2])


def test_frames_csv_never_claims_frames_a_segment_cut_by_a_full_disk_lacks(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 point 10: after a full disk, frames.csv claimed 150 frames where the segments held 120."""
    import slowfast_core.sessions.segments as segments

    real = segments.open_writer
    monkeypatch.setattr(segments, "open_writer",
                        lambda path, **kw: _DiskFillsInSegment(real(path, **kw), path, "000002.mp4"))
    messages: list[str] = []
    rec = start(tmp_path, on_error=messages.append)
    for i in range(120):
        rec.on_frame(frame(i, CLOCK0 + i / FPS))
    wait_until(lambda: bool(messages))  # on_error comes last when the recorder fails
    assert rec.error.startswith("disk full while writing") and "000002.mp4" in rec.error
    assert messages == [rec.error]
    rows = (rec.path / "frames.csv").read_text().splitlines()
    assert len(rows) == 1 + 60  # the header and the two whole segments, nothing of the cut one
    info = rec.stop()
    s = load_session(info.path)
    assert info.frames == len(s.frames) == len(read_video(s.video_path)) == 60
    assert s.info.problems == () and s.frames.source_index.tolist() == list(range(60))


@pytest.mark.timeout(120)
def test_a_real_full_disk_leaves_an_index_that_matches_the_video(tmp_path: Path) -> None:
    """The same on a real 2 MB tmpfs (in a user and mount namespace; skipped where that is not allowed)."""
    import shutil as sh
    import subprocess
    import sys

    if sh.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("no unprivileged mount namespace here for a small tmpfs")
    script = tmp_path / "fill.py"
    script.write_text(FILL_CHILD)
    mount = tmp_path / "disk"
    mount.mkdir()
    cmd = f"mount -t tmpfs -o size=2m tmpfs {mount} && exec {sys.executable} {script} {mount}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", cmd], capture_output=True, text=True, timeout=100,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] and "disk" in result["error"]
    assert result["frames_csv_rows"] == result["frames_in_segments"] == result["frames_written"] > 0


FILL_CHILD = r"""
import json, sys, time
import numpy as np
from slowfast_core.sessions import SessionRecorder
from slowfast_core.sessions.video import count_frames
from slowfast_core.stream.types import FramePacket

rec = SessionRecorder.start(sys.argv[1], name="fill", labels=["a"], source="synthetic", fps=30.0, width=320,
                            height=240, model="tiny", min_free_bytes=0, queue_seconds=60.0)
rng = np.random.default_rng(0)
i = 0
while rec.error is None and i < 3000:
    rec.on_frame(FramePacket(index=i, timestamp=i / 30.0, image=rng.integers(0, 255, (240, 320, 3), np.uint8),
                             source_fps=30.0))
    i += 1
    if i % 30 == 0:
        time.sleep(0.05)  # a camera's pace: the writer drains the queue between bursts
deadline = time.monotonic() + 30
while rec.error is None and time.monotonic() < deadline:
    time.sleep(0.05)  # poll interval of a condition wait (in this child, no test helpers)
rows = (rec.path / "frames.csv").read_text().count("\n") - 1
held = sum(count_frames(p) for p in sorted((rec.path / "segments").glob("*.mp4")))
print(json.dumps({"error": rec.error, "frames_written": rec.frames_written, "frames_csv_rows": rows,
                  "frames_in_segments": held}))
"""


def test_a_writer_thread_failure_is_reported_not_silent(tmp_path: Path) -> None:
    messages: list[str] = []
    rec = start(tmp_path, on_error=messages.append)
    t0 = CLOCK0
    for i in range(35):
        rec.on_frame(frame(i, t0 + i / FPS))
    wait_until(lambda: rec.frames_written >= 30)
    bad = FramePacket(index=35, timestamp=t0 + 35 / FPS, image=None, source_fps=FPS)  # type: ignore[arg-type]
    rec.on_frame(bad)  # a broken producer: the writer thread raises on it
    wait_until(lambda: bool(messages))  # on_error comes last when the recorder fails
    assert "video writer failed" in rec.error and "\n" not in rec.error and messages == [rec.error]
    info = rec.stop()
    s = load_session(info.path)
    assert info.frames == len(s.frames) == len(read_video(s.video_path)) == 35  # the frames before are kept


def test_rename_and_delete(tmp_path: Path) -> None:
    rec = start(tmp_path, name="first try")
    rec.on_frame(frame(0, CLOCK0))
    old = rec.stop().path
    assert old.name.endswith("_first_try")
    new = rename_session(old, "Kitchen, take 2")
    assert new.name.endswith("_Kitchen_take_2") and not old.exists()
    assert load_session(new).name == "Kitchen, take 2"
    with pytest.raises(SessionError, match="empty"):
        rename_session(new, " ")
    delete_session(new)
    assert list_sessions(tmp_path) == []
    with pytest.raises(SessionError, match="not a session folder"):
        delete_session(tmp_path)


@pytest.mark.parametrize("method", ["reencode", "remux"])
def test_join_segments_keeps_the_first_n_frames_of_each_in_order(tmp_path: Path, method: str) -> None:
    from slowfast_core.sessions.video import count_frames, join_segments, open_writer

    if method == "remux":
        pytest.importorskip("av", reason="PyAV is optional: without it joins re-encode")
    parts, expected = [], []
    for s, (n, keep) in enumerate([(30, 30), (30, 12), (17, 17)]):
        path = tmp_path / f"{s:06d}.mp4"
        writer = open_writer(path, fps=FPS, width=WIDTH, height=HEIGHT)
        for i in range(n):
            writer.write(np.full((HEIGHT, WIDTH, 3), gray(s * 30 + i), np.uint8))
        writer.release()
        parts.append((path, keep))
        expected += [gray(s * 30 + i) for i in range(keep)]
    out = tmp_path / "video.mp4"
    progress: list[tuple[int, int]] = []
    assert join_segments(parts, out, fps=FPS, width=WIDTH, height=HEIGHT, method=method,
                         progress=lambda d, t: progress.append((d, t))) == 59
    assert count_frames(out) == 59 and progress[-1] == (59, 59)
    assert not (tmp_path / "video.part.mp4").exists()
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    levels = [float(cap.read()[1].mean()) for _ in range(59)]
    cap.release()
    np.testing.assert_allclose(levels, expected, atol=12)
    with pytest.raises(ValueError, match="join method"):
        join_segments(parts, out, fps=FPS, width=WIDTH, height=HEIGHT, method="copy")  # type: ignore[arg-type]


def test_after_a_join_timeout_the_writer_still_closes_frames_csv(tmp_path: Path) -> None:
    """Issue 11 §6: when stop() gives up waiting for the writer, the writer closes frames.csv when it ends
    (it stayed open for the life of the process before: only stop's normal path closed it)."""
    rec = start(tmp_path)
    for i in range(45):
        rec.on_frame(frame(i, CLOCK0 + i / FPS))
    info = rec.stop(timeout=0.0)  # the writer is still busy with the queue
    assert info.state == "recording" and "did not finish" in (info.error or "")
    rec._thread.join(30)
    assert not rec._thread.is_alive() and rec._segments.closed


def test_an_unwritable_session_json_after_a_join_timeout_is_said(tmp_path: Path) -> None:
    """Issue 11 §6: leaving a session for repair, a session.json that cannot be written was passed over in
    silence (`except OSError: pass`); now the error says it too."""
    rec = start(tmp_path)
    for i in range(45):
        rec.on_frame(frame(i, CLOCK0 + i / FPS))
    (rec.path / "session.json").unlink()
    (rec.path / "session.json").mkdir()  # os.replace onto a folder fails, for root too
    info = rec.stop(timeout=0.0)
    assert "did not finish" in info.error and "session.json" in info.error and "\n" not in info.error
    rec._thread.join(30)
