"""Dataset export, case by case, on tiny sessions (80x64 frames, a few dozen): what each report field holds,
which sessions and segments are skipped and with what words, and clips that overlap, are one frame long, or run
past a truncated video. The end-to-end checks (clips read back by PyTorchVideo) are in test_sessions_export.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.sessions import SessionError, export_dataset, load_session
from slowfast_core.sessions.export import _cut_session, _unusable
from slowfast_core.sessions.video import open_writer

from helpers.media import gray, read_video
from helpers.sessions import record_session

FPS = 10.0
W, H = 80, 64


def record(root: Path, name: str, marks: list[tuple[str, float, float]], n: int = 40,
           labels: tuple[str, ...] = ("wave", "clap")) -> Path:
    """A finished session of `n` frames (frame i at i/FPS s, gray(i)) with labeled segments `marks`."""
    return record_session(root, name, n, labels=labels, marks=marks, fps=FPS, size=(W, H)).path


def truncate_video(session: Path, keep: int) -> None:
    """Rewrite the session's video with only its first `keep` frames (frames.csv still lists them all)."""
    video = session / "video.mp4"
    frames = read_video(video)[:keep]
    tmp = session / "short.mp4"
    writer = open_writer(tmp, fps=FPS, width=W, height=H)
    for frame in frames:
        writer.write(frame)
    writer.release()
    tmp.replace(video)


def test_report_fields_progress_and_one_frame_clip(tmp_path: Path) -> None:
    a = record(tmp_path / "s", "a", [("wave", 0.5, 1.5), ("clap", 2.0, 2.1)])
    out = tmp_path / "out"
    calls: list[tuple[int, int, str]] = []
    report = export_dataset([a], out, progress=lambda d, t, w: calls.append((d, t, w)))
    assert report.out_dir == out and report.csv_path == out / "train.csv"
    assert report.label_map_path == out / "label_map.json"
    assert [(c.label, c.label_id, c.session, c.start, c.end, c.frames) for c in report.clips] == [
        ("wave", 0, a.name, pytest.approx(0.5), pytest.approx(1.5), 10),
        ("clap", 1, a.name, pytest.approx(2.0), pytest.approx(2.1), 1)]  # one frame is enough by default
    assert calls == [(1, 2, report.clips[0].path), (2, 2, report.clips[1].path)]
    assert report.sessions == (a.name,) and report.skipped == ()
    assert (out / "label_map.json").read_text() == '{\n  "wave": 0,\n  "clap": 1\n}\n'


def test_min_frames_skips_short_segments_and_goes_on(tmp_path: Path) -> None:
    # sorted by start: a 2-frame segment, an empty one (between two frames), then a 10-frame one
    a = record(tmp_path / "s", "a", [("wave", 0.5, 0.7), ("clap", 0.81, 0.85), ("wave", 1.0, 2.0)])
    calls: list[str] = []
    report = export_dataset([a], tmp_path / "o1", progress=lambda d, t, w: calls.append(w))
    assert [c.frames for c in report.clips] == [2, 10]
    assert report.skipped == (f"{a.name}: clap 0.81-0.85 s: 0 frames in the video (fewer than 1)",)
    assert calls == [report.clips[0].path, report.skipped[0], report.clips[1].path]
    report = export_dataset([a], tmp_path / "o2", min_frames=3)
    assert [c.frames for c in report.clips] == [10]
    assert report.skipped == (f"{a.name}: wave 0.50-0.70 s: 2 frames in the video (fewer than 3)",
                              f"{a.name}: clap 0.81-0.85 s: 0 frames in the video (fewer than 3)")
    report = export_dataset([a], tmp_path / "o3", min_frames=2)
    assert [c.frames for c in report.clips] == [2, 10]  # exactly min_frames is enough


def test_overlapping_segments_read_the_video_again(tmp_path: Path) -> None:
    a = record(tmp_path / "s", "a", [("wave", 0.5, 2.0), ("clap", 1.0, 1.5), ("wave", 1.5, 1.8)])
    report = export_dataset([a], tmp_path / "out")
    assert [c.frames for c in report.clips] == [15, 5, 3]
    for clip, first in zip(report.clips, (5, 10, 15)):
        frames = read_video(tmp_path / "out" / clip.path)
        assert len(frames) == clip.frames
        assert abs(float(frames[0].mean()) - gray(first)) < 12, clip
        assert abs(float(frames[-1].mean()) - gray(first + clip.frames - 1)) < 12, clip


def test_truncated_video_ends_clips_early_and_says_so(tmp_path: Path) -> None:
    a = record(tmp_path / "s", "a", [("wave", 0.5, 3.5), ("clap", 1.0, 3.0)])
    truncate_video(a, 20)  # frames.csv still lists 40 frames: usable, with a frames.csv problem
    session = load_session(a)
    assert session.problems and _unusable(session) is None
    report = export_dataset([a], tmp_path / "out", min_frames=16)  # wave reads 15 frames, clap (again) 10
    assert report.clips == () and report.skipped == (
        f"{a.name}: wave 0.50-3.50 s: the video ended early (repair the session)",
        f"{a.name}: clap 1.00-3.00 s: the video ended early (repair the session)")
    assert not list((tmp_path / "out" / "clips").glob("*/*.mp4"))  # the short clips are deleted
    report = export_dataset([a], tmp_path / "out2", min_frames=11)
    assert [(c.label, c.frames) for c in report.clips] == [("wave", 15)]
    assert report.skipped == (f"{a.name}: clap 1.00-3.00 s: the video ended early (repair the session)",)


def test_bad_labels_rows_are_reported_once_with_unusable_sessions(tmp_path: Path) -> None:
    a = record(tmp_path / "s", "a", [("wave", 0.5, 1.5)])
    b = record(tmp_path / "s", "b", [])
    with open(a / "labels.csv", "a") as f:
        f.write("wave,not a time,2.0\n")
    report = export_dataset([b, a], tmp_path / "out")
    assert len(report.clips) == 1 and len(report.skipped) == 2
    assert report.skipped[0] == f"{b.name}: no labeled segments"
    assert report.skipped[1].startswith(f"{a.name}: labels.csv")


def test_nothing_to_export_says_why_for_each_session(tmp_path: Path) -> None:
    a, b = record(tmp_path / "s", "a", []), record(tmp_path / "s", "b", [])
    with pytest.raises(SessionError) as err:
        export_dataset([a, b], tmp_path / "out")
    assert str(err.value) == f"nothing to export: {a.name}: no labeled segments; {b.name}: no labeled segments"
    with pytest.raises(SessionError, match=r"\(see `slowfast sessions list`\)$"):
        export_dataset([], tmp_path / "out")


def test_unusable_names_the_first_problem(tmp_path: Path) -> None:
    a = load_session(record(tmp_path / "s", "a", [("wave", 0.5, 1.5)]))
    (a.path / "video.mp4").write_bytes(b"not a video")
    broken = load_session(a.path)
    assert _unusable(broken) == str([p for p in broken.problems if p.file == "video.mp4"][0])
    for field in ("fps", "width", "height"):
        info = dataclasses.replace(a.info, invalid=frozenset({field}), problems=())
        assert _unusable(dataclasses.replace(a, info=info)) == "session.json has no usable fps or frame size"
    b = record(tmp_path / "s", "b", [("wave", 0.5, 1.5)])
    text = (b / "session.json").read_text()
    (b / "session.json").write_text(text.replace('"fps": 10.0', '"fps": "fast"'))
    bad = load_session(b)
    assert "fps" in bad.info.invalid
    assert _unusable(bad) == str([p for p in bad.problems if p.file == "session.json"][0])
    assert _unusable(dataclasses.replace(a, video_path=None)) == "the session has no video"


def test_cut_without_a_video_or_with_one_that_does_not_open(tmp_path: Path) -> None:
    a = load_session(record(tmp_path / "s", "a", [("wave", 0.5, 1.5), ("clap", 2.0, 2.5)]))
    none = list(_cut_session(dataclasses.replace(a, video_path=None), tmp_path / "out", min_frames=1))
    assert [(k, seg.label, why) for k, seg, why in none] == [
        (0, "wave", f"{a.path.name}: wave 0.50-1.50 s: the session has no video"),
        (1, "clap", f"{a.path.name}: clap 2.00-2.50 s: the session has no video")]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"junk")
    bad = list(_cut_session(dataclasses.replace(a, video_path=junk), tmp_path / "out", min_frames=1))
    assert [why for _, _, why in bad] == [f"{a.path.name}: wave 0.50-1.50 s: the video does not open",
                                         f"{a.path.name}: clap 2.00-2.50 s: the video does not open"]


def test_refuses_a_half_export_and_a_folder_it_cannot_create(tmp_path: Path) -> None:
    a = record(tmp_path / "s", "a", [("wave", 0.5, 1.5)])
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.csv").write_text("")
    with pytest.raises(SessionError, match="already holds an export .*: choose another folder or overwrite it$"):
        export_dataset([a], out)
    (tmp_path / "file").write_text("")
    with pytest.raises(SessionError, match=r"^cannot create the export folder .*file.*: choose another folder$"):
        export_dataset([a], tmp_path / "file")


def test_long_session_folder_names_are_cut_to_80_characters(tmp_path: Path) -> None:
    a = record(tmp_path / "s", "a", [("wave", 0.5, 1.5)])
    long = a.rename(a.parent / ("n" * 100))  # a folder renamed by hand: the recorder's own names are shorter
    report = export_dataset([long], tmp_path / "out")
    assert report.clips[0].path == f"clips/wave/{'n' * 80}_000.mp4" and report.clips[0].session == "n" * 100
