"""Decoding video files with OpenCV: frames, timestamps, metadata, and every way a file can be bad."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.commands.demo import write_synthetic_clip
from slowfast_core.errors import VideoError
from slowfast_core.video.decode import FALLBACK_FPS, VideoReader, probe_video, read_frames, usable_fps

from helpers.errors import one_line



@pytest.mark.parametrize("fps", [30.0, 25.0])
def test_frames_have_index_timestamp_and_image(tmp_path: Path, fps: float) -> None:
    clip = tmp_path / f"clip{fps:g}.mp4"
    n = write_synthetic_clip(clip, seconds=0.8, fps=fps, width=96, height=72)
    with VideoReader(clip) as video:
        assert (video.info.width, video.info.height, video.info.fps) == (96, 72, fps)
        assert video.info.frame_count == n and not video.info.fps_assumed
        frames = list(video.frames())
        assert video.frames_read == n and not video.cut_short
    assert [f.index for f in frames] == list(range(n))
    np.testing.assert_allclose([f.timestamp for f in frames], np.arange(n) / fps)
    assert all(f.bgr.shape == (72, 96, 3) and f.bgr.dtype == np.uint8 for f in frames)
    # the shapes move: consecutive frames differ, so these are real decoded frames, not one repeated
    assert np.abs(frames[0].bgr.astype(int) - frames[-1].bgr.astype(int)).mean() > 2.0


def test_read_frames_and_probe(tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    n = write_synthetic_clip(clip, seconds=0.5, fps=30, width=64, height=48)
    info = probe_video(clip)
    assert info.frame_count == n and info.duration == pytest.approx(n / 30)
    assert "64x48, 30.00 fps" in info.describe()
    assert len(list(read_frames(clip))) == n


def test_frames_decodes_once(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    write_synthetic_clip(clip, seconds=0.2, fps=30, width=64, height=48)
    with VideoReader(clip) as video:
        list(video.frames())
        with pytest.raises(RuntimeError, match="once"):
            next(video.frames())


@pytest.mark.parametrize("claimed", [0.0, float("nan"), float("inf"), -25.0, 90000.0])
def test_unusable_fps_assumes_30_with_warning(claimed: float, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="slowfast_core.video.decode"):
        assert usable_fps(claimed, "x.mp4") == (FALLBACK_FPS, True)
    assert "assuming 30 fps" in caplog.text and "x.mp4" in caplog.text


def test_plausible_fps_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert usable_fps(28.051948, "x.mp4") == (28.051948, False)
    assert caplog.text == ""


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoError) as exc:
        VideoReader(path)
    assert "does not exist" in one_line(exc, path)


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(VideoError) as exc:
        VideoReader(tmp_path)
    assert "is a folder" in one_line(exc, tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoError) as exc:
        VideoReader(path)
    assert "empty" in one_line(exc, path)


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 50)
    with pytest.raises(VideoError) as exc:
        VideoReader(path)
    assert "not a video" in one_line(exc, path)


def test_zero_frame_avi_has_no_frames(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "zero.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48)).release()  # header, no frames
    with VideoReader(path) as video:  # the container opens...
        with pytest.raises(VideoError) as exc:
            next(video.frames())  # ...but yields nothing
    assert "no video frames" in one_line(exc, path)


def test_zero_frame_mp4_is_rejected(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "zero.mp4"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48)).release()
    with pytest.raises(VideoError) as exc:  # an MP4 without frames has no index: FFmpeg refuses it
        VideoReader(path)
    one_line(exc, path)


def _cut_in_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def test_cut_avi_keeps_decoded_frames_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    full = tmp_path / "full.avi"
    n = write_synthetic_clip(full, seconds=2.0, fps=30, width=160, height=120)
    cut = _cut_in_half(full, tmp_path / "cut.avi")
    with caplog.at_level(logging.WARNING, logger="slowfast_core.video.decode"):
        with VideoReader(cut) as video:
            assert video.info.frame_count == n  # the header still claims every frame
            frames = list(video.frames())
            assert video.cut_short
    assert 0 < len(frames) < n
    assert [f.index for f in frames] == list(range(len(frames)))
    assert f"decoded {len(frames)} of the {n} frames" in caplog.text and "cut short" in caplog.text


def test_cut_mp4_without_index_is_rejected(tmp_path: Path) -> None:
    full = tmp_path / "full.mp4"
    write_synthetic_clip(full, seconds=1.0, fps=30, width=160, height=120)
    cut = _cut_in_half(full, tmp_path / "cut.mp4")  # mp4v MP4 keeps its index (moov) at the end
    with pytest.raises(VideoError) as exc:
        VideoReader(cut)
    assert "cut short" in one_line(exc, cut)


@pytest.mark.parametrize(
    ("name", "size", "fps", "count"),
    [
        ("demo.mp4", (340, 256), 28.0, 280),
        ("test.avi", (320, 240), 25.0, 164),  # MPEG-4 part 2 in AVI
        ("demo_skeleton.mp4", (1920, 1080), 28.05, 72),
    ],
)
def test_real_clips_decode(name: str, size: tuple[int, int], fps: float, count: int,
                           realvideo: Path) -> None:
    path = realvideo / name
    with VideoReader(path) as video:
        assert (video.info.width, video.info.height) == size
        assert video.info.fps == pytest.approx(fps, abs=0.01)
        last = None
        for last in video.frames():
            assert last.bgr.shape == (size[1], size[0], 3)
        assert video.frames_read == count == video.info.frame_count and not video.cut_short
    assert last is not None and last.timestamp == pytest.approx((count - 1) / video.info.fps)
