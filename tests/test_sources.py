"""Frame sources: parse_source, the synthetic scene (stall, drop-out), files (paced, unpaced, loop), cameras."""

from __future__ import annotations

import glob
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.errors import SourceError
from slowfast_core.video.cameras import CameraSource, list_cameras
from slowfast_core.video.file_source import FileSource
from slowfast_core.video.source_text import parse_source
from slowfast_core.video.synthetic import SyntheticSource, decode_index, encode_index

from helpers.media import write_clip
from helpers.waiting import wait_until



def grey_ramp_clip(path: Path, frames: int, *, fps: float = 30.0) -> Path:
    """A 128x96 mp4v clip whose frame i is uniformly grey level 4*i (so decoded order can be checked)."""
    return write_clip(path, [4 * i for i in range(frames)], fps=fps, size=(128, 96))


def test_parse_source_forms() -> None:
    assert isinstance(parse_source("camera:0"), CameraSource) and parse_source("camera:0").device == 0
    assert parse_source("camera:/dev/video3").device == "/dev/video3"
    file_source = parse_source("file:/tmp/x.mp4")
    assert isinstance(file_source, FileSource) and file_source.paced and not file_source.loop
    assert not parse_source("file:/tmp/x.mp4", realtime=False).live
    synthetic = parse_source("synthetic")
    assert (synthetic.width, synthetic.height, synthetic.fps) == (640, 480, 30.0)
    custom = parse_source("synthetic:320x240@15")
    assert (custom.width, custom.height, custom.fps) == (320, 240, 15.0)
    assert parse_source("synthetic:@60").fps == 60.0


@pytest.mark.parametrize(
    "spec", ["webcam", "camera:", "file:", "synthetic:abc", "synthetic:10x10@30", "synthetic:320x240@0"]
)
def test_parse_source_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(SourceError) as info:
        parse_source(spec)
    assert "\n" not in str(info.value)


def test_index_strip_round_trip() -> None:
    frame = np.zeros((32, 256, 3), np.uint8)
    for number in (0, 1, 12345, 2**24 - 1):
        encode_index(frame, number)
        assert decode_index(frame) == number


def test_synthetic_unpaced_frames_move_and_carry_index() -> None:
    source = SyntheticSource(160, 120, 30, paced=False, frames=5)
    info = source.open()
    assert (info.width, info.height, info.fps) == (160, 120, 30.0)
    frames = []
    while (f := source.read()) is not None:
        frames.append(f)
    source.close()
    assert len(frames) == 5  # then end of stream
    assert [source.frame_number(f.image) for f in frames] == [0, 1, 2, 3, 4]
    assert [f.media_time for f in frames] == pytest.approx([i / 30 for i in range(5)])
    assert frames[0].image.shape == (120, 160, 3) and frames[0].image.dtype == np.uint8
    assert not np.array_equal(frames[0].image[16:], frames[4].image[16:])  # the scene moves


def test_synthetic_paced_skips_frames_when_reader_is_behind() -> None:
    source = SyntheticSource(96, 64, 50)
    source.open()
    first = source.read()
    time.sleep(0.2)  # the reader falls ten frame periods behind: the situation under test
    late = source.read()
    source.close()
    assert first.skipped == 0 and first.due is not None
    assert late.skipped >= 5  # the newest frame, not a backlog
    assert source.frame_number(late.image) == source.frame_number(first.image) + late.skipped + 1


def read_in_thread(source) -> tuple[threading.Thread, list, threading.Event]:
    """Start `source.read()` on another thread; returns (thread, [frame], done)."""
    got: list = []
    done = threading.Event()

    def read() -> None:
        got.append(source.read())
        done.set()

    t = threading.Thread(target=read, name="test-reader")
    t.start()
    return t, got, done


def test_synthetic_stall_blocks_reads_then_resumes() -> None:
    source = SyntheticSource(96, 64, 50)
    source.open()
    source.read()
    source.stall(0.3)
    t0 = time.monotonic()
    frame = source.read()
    assert time.monotonic() - t0 >= 0.25 and frame is not None  # the read waited out the stall (a lower bound)
    assert frame.skipped == 0  # a stalled camera produced nothing to skip
    source.stall(None)  # until resume()
    t, got, done = read_in_thread(source)
    assert not done.wait(0.2)  # given the time to read, it did not: it is blocked (a wait for nothing to happen)
    source.resume()
    assert done.wait(60)
    t.join(10)
    assert got[0] is not None
    source.close()


def opens(source) -> bool:
    try:
        source.open()
    except SourceError:
        return False
    return True


def test_synthetic_drop_out_fails_reads_and_opens_until_back() -> None:
    source = SyntheticSource(96, 64, 50)
    source.open()
    source.drop_out(0.3)
    with pytest.raises(SourceError, match="drop-out"):
        source.read()
    source.close()
    with pytest.raises(SourceError, match="unavailable"):
        source.open()
    wait_until(lambda: opens(source), what="the source to come back by itself")
    assert source.read() is not None
    source.close()
    source.drop_out(None)  # until resume()
    assert not opens(source)
    source.resume()
    assert opens(source) and source.read() is not None
    source.close()


def test_interrupt_ends_a_blocked_read() -> None:
    source = SyntheticSource(96, 64, 30)
    source.open()
    source.stall(None)
    t, got, done = read_in_thread(source)
    assert not done.wait(0.2)  # blocked in the stall
    source.interrupt()
    assert done.wait(60)
    t.join(10)
    assert got == [None]
    source.close()


def test_file_unpaced_reads_every_frame_then_eof(tmp_path: Path) -> None:
    clip = grey_ramp_clip(tmp_path / "c.mp4", 12, fps=25)
    source = FileSource(clip, paced=False)
    info = source.open()
    assert (info.width, info.height, info.fps) == (128, 96, 25.0)
    frames = list(iter(source.read, None))
    source.close()
    assert len(frames) == 12
    assert [f.media_time for f in frames] == pytest.approx([i / 25 for i in range(12)])
    levels = [int(f.image.mean()) for f in frames]
    assert levels == sorted(levels) and levels[-1] > levels[0] + 30


def test_file_loop_continues_media_time(tmp_path: Path) -> None:
    clip = grey_ramp_clip(tmp_path / "c.mp4", 5)
    source = FileSource(clip, paced=False, loop=True)
    source.open()
    frames = [source.read() for _ in range(12)]
    source.close()
    times = [f.media_time for f in frames]
    assert times == pytest.approx([i / 30 for i in range(12)])
    assert abs(int(frames[5].image.mean()) - int(frames[0].image.mean())) <= 2  # back to the first frame


def test_file_paced_skips_like_a_camera(tmp_path: Path) -> None:
    clip = grey_ramp_clip(tmp_path / "c.mp4", 60, fps=50)
    source = FileSource(clip, paced=True)
    source.open()
    first = source.read()
    time.sleep(0.2)  # the reader falls ten frame periods behind: the situation under test
    late = source.read()
    source.close()
    assert first.media_time == 0.0
    assert late.skipped >= 5 and late.media_time == pytest.approx((late.skipped + 1) / 50)


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    for path, pattern in ((tmp_path / "missing.mp4", "does not exist"), (tmp_path, "not a video file"),
                          (not_video, "video")):
        with pytest.raises(SourceError, match=pattern) as info:
            FileSource(path).open()
        assert "\n" not in str(info.value)


def test_real_clip_fps_and_size(realvideo: Path) -> None:
    source = FileSource(realvideo / "test.avi", paced=False)
    info = source.open()
    first = source.read()
    source.close()
    assert (info.width, info.height, info.fps) == (320, 240, 25.0)
    assert first.image.shape == (240, 320, 3)


def test_no_camera_is_a_clear_error_not_a_crash(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SourceError, match="does not exist") as info:
        CameraSource("/dev/video-none").open()
    assert "\n" not in str(info.value)
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has a camera; the no-camera paths cannot be checked")
    with pytest.raises(SourceError, match="cannot open camera 7"):
        CameraSource(7).open()
    assert list_cameras() == []
    assert "WARN" not in capfd.readouterr().err  # OpenCV's own warnings are silenced
