"""Dataset export (clips cut with OpenCV, `path label_id` CSV, label map) and label/prediction agreement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.sessions import (
    LabeledSegment,
    PredictionRecord,
    SessionError,
    agreement,
    export_dataset,
    load_session,
    predicted_segments,
)

from helpers.media import gray, read_video
from helpers.sessions import record_session, start_recorder

FPS = 30.0
W, H = 160, 120


def record(root: Path, name: str, labels: list[str], marks: list[tuple[str, float, float]], n: int) -> Path:
    """Record `n` synthetic frames (frame i at i/FPS s, gray(i)) with labeled segments `marks`; the folder."""
    return record_session(root, name, n, labels=labels, marks=marks, fps=FPS, size=(W, H)).path


@pytest.fixture()
def two_sessions(tmp_path: Path) -> list[Path]:
    root = tmp_path / "sessions"
    a = record(root, "a", ["wave", "clap"], [("wave", 0.5, 1.5), ("clap", 2.0, 2.8), ("wave", 3.0, 3.5)], 120)
    b = record(root, "b", ["clap", "jump"], [("jump", 0.2, 1.0)], 45)
    return [a, b]


def test_export_writes_clips_csv_and_label_map(tmp_path: Path, two_sessions: list[Path]) -> None:
    calls: list[tuple[int, int, str]] = []
    out = tmp_path / "dataset"
    report = export_dataset(two_sessions, out, progress=lambda d, t, w: calls.append((d, t, w)))

    assert report.label_map == {"wave": 0, "clap": 1, "jump": 2}
    assert json.loads((out / "label_map.json").read_text()) == {"wave": 0, "clap": 1, "jump": 2}
    lines = (out / "train.csv").read_text().splitlines()
    assert len(lines) == 4 == len(report.clips) and report.skipped == ()
    assert [(d, t) for d, t, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    expected = [("wave", 0.5, 1.5), ("clap", 2.0, 2.8), ("wave", 3.0, 3.5), ("jump", 0.2, 1.0)]
    for line, clip, (label, start, end) in zip(lines, report.clips, expected):
        rel, label_id = line.split(" ")
        assert rel == clip.path and rel.startswith(f"clips/{label}/") and int(label_id) == report.label_map[label]
        frames = read_video(out / rel)
        first = int(np.ceil(start * FPS - 1e-6))  # frame i is at i/FPS: the clip holds [start, end)
        last = int(np.ceil(end * FPS - 1e-6)) - 1
        assert len(frames) == last - first + 1 == clip.frames, (line, len(frames))
        assert frames[0].shape == (H, W, 3)
        assert abs(float(frames[0].mean()) - gray(first)) < 12
        assert abs(float(frames[-1].mean()) - gray(last)) < 12


def test_export_csv_reads_with_pytorchvideo(tmp_path: Path, two_sessions: list[Path]) -> None:
    labeled_video_paths = pytest.importorskip("pytorchvideo.data.labeled_video_paths")
    out = tmp_path / "dataset"
    report = export_dataset(two_sessions, out)
    paths = labeled_video_paths.LabeledVideoPaths.from_csv(str(out / "train.csv"))
    paths.path_prefix = str(out)
    items = [paths[i] for i in range(len(paths))]
    assert [info["label"] for _, info in items] == [c.label_id for c in report.clips] == [0, 1, 0, 2]
    assert all(Path(p).is_file() for p, _ in items)


def test_export_refuses_to_overwrite_and_skips_segments_without_frames(tmp_path: Path,
                                                                        two_sessions: list[Path]) -> None:
    out = tmp_path / "dataset"
    export_dataset(two_sessions[:1], out)
    with pytest.raises(SessionError, match="already holds an export") as err:
        export_dataset(two_sessions[:1], out)
    assert "\n" not in str(err.value)
    # a labeled segment after the end of the video gives no clip, and says why
    with open(two_sessions[1] / "labels.csv", "a") as f:
        f.write("clap,10.0,11.0\n")
    report = export_dataset([load_session(p) for p in two_sessions], out, overwrite=True)
    assert len(report.clips) == 4 and len(report.skipped) == 1 and "clap 10.00-11.00" in report.skipped[0]


def test_export_refuses_nothing_and_unfinished_sessions(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="no sessions to export"):
        export_dataset([], tmp_path / "out")
    rec = start_recorder(tmp_path / "s", name="live", labels=["wave"])
    try:
        with pytest.raises(SessionError, match="sessions repair"):
            export_dataset([rec.path], tmp_path / "out")
    finally:
        rec.stop()


def pred(i: int, mid: float, label: str | None) -> PredictionRecord:
    """A prediction whose window is centred on `mid` (1 s long)."""
    return PredictionRecord(window=i, start=mid - 0.5, end=mid + 0.5, label=label, confidence=0.9, topk=())


def test_agreement_over_time_overall_and_per_label() -> None:
    # predictions every 0.5 s: "waving_hand" over mids 1.0..3.0, nothing confident at 3.5, "clapping" 4.0..5.0
    preds = [pred(i, 1.0 + 0.5 * i, "waving_hand" if i <= 4 else (None if i == 5 else "clapping"))
             for i in range(9)]
    segs = predicted_segments(preds)
    assert [(s.label, s.start, s.end) for s in segs] == [("waving_hand", 0.75, 3.25), ("clapping", 3.75, 5.25)]
    labels = [LabeledSegment("Waving hand", 1.0, 3.0), LabeledSegment("clapping", 3.0, 5.0),
              LabeledSegment("jumping", 6.0, 7.0)]
    result = agreement(labels, preds)
    assert result.per_label["Waving hand"].fraction == pytest.approx(1.0)  # name compared loosely
    assert result.per_label["clapping"].matched_seconds == pytest.approx(1.25)  # 3.75..5.0 of 3.0..5.0
    assert result.per_label["clapping"].fraction == pytest.approx(1.25 / 2.0)
    assert result.per_label["jumping"].fraction == pytest.approx(0.0)
    assert result.labeled_seconds == pytest.approx(5.0)
    assert result.fraction == pytest.approx((2.0 + 1.25) / 5.0)


def test_agreement_does_not_stretch_a_prediction_over_a_stall() -> None:
    preds = [pred(0, 1.0, "a"), pred(1, 9.0, "a")]  # 8 s without predictions in between
    segs = predicted_segments(preds, max_gap=2.0)
    assert [(s.start, s.end) for s in segs] == [(0.0, 2.0), (8.0, 10.0)]
    result = agreement([LabeledSegment("a", 0.0, 10.0)], preds, max_gap=2.0)
    assert result.fraction == pytest.approx(0.4)
    assert agreement([], preds).fraction is None
