"""`slowfast predict DIR_OR_GLOB… --out RESULTS/`: every video with one model, a broken file named and skipped,
summary.csv, and Ctrl-C keeping what is done."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.cli import main
from slowfast_core.commands.predict import PredictOptions
from slowfast_core.commands.predict_folder import SUMMARY, SUMMARY_COLUMNS, expand_inputs, predict_folder
from slowfast_core.errors import ConfigError

TINY = ["--arch", "slowfast_tiny", "--backend", "torch-eager"]


def write_clip(path: Path, frames: int = 40, shade: int = 0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (96, 72))
    rng = np.random.default_rng(shade)
    for i in range(frames):
        writer.write(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """archive/a.mp4, archive/sub/b.avi, archive/broken.mp4 (not a video) and a text file."""
    root = tmp_path / "archive"
    (root / "sub").mkdir(parents=True)
    write_clip(root / "a.mp4", shade=1)
    write_clip(root / "sub" / "b.avi", frames=50, shade=2)
    (root / "broken.mp4").write_bytes(b"this is not a video")
    (root / "notes.txt").write_text("not a video either")
    return root


def read_summary(folder: Path) -> list[dict[str, str]]:
    with open(folder / SUMMARY, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_folder_run_skips_the_broken_file_and_loads_the_model_once(archive, tmp_path, capsys, monkeypatch):
    import slowfast_core.backends.base as base

    builds = []
    real = base.create_backend
    monkeypatch.setattr(base, "create_backend", lambda *a, **k: builds.append(1) or real(*a, **k))
    out = tmp_path / "results"
    assert main(["predict", str(archive), "--out", str(out), *TINY]) == 1  # one video was skipped
    assert len(builds) == 1  # the model was built and its backend made once for all videos
    captured = capsys.readouterr()
    rows = read_summary(out)
    assert list(rows[0]) == list(SUMMARY_COLUMNS)
    by_name = {Path(r["file"]).name: r for r in rows}
    assert set(by_name) == {"a.mp4", "b.avi", "broken.mp4"}  # folders searched recursively, text files ignored
    assert by_name["broken.mp4"]["status"].startswith("skipped: ") and "broken.mp4" in captured.err
    for name in ("a.mp4", "b.avi"):
        row = by_name[name]
        assert row["status"] == "ok" and int(row["windows"]) >= 1 and row["top_label"]
        doc = json.loads((out / row["result"]).read_text())
        assert doc["video"]["path"].endswith(name) and len(doc["windows"]) == int(row["windows"])
        assert doc["top"]["label"] == row["top_label"] and "segments" in doc
        assert (out / f"{name}.srt").is_file()
        assert f"{name}: {row['top_label']}" in captured.out  # each file's result beside its name
    assert "2 of 3 videos done" in captured.err and "skipped 1: " in captured.err


def test_globs_and_several_inputs(archive, tmp_path, capsys):
    found = expand_inputs([str(archive / "**" / "*.avi"), str(archive / "a.mp4"), str(archive / "a.mp4")])
    assert [p.name for p in found] == ["b.avi", "a.mp4"]  # duplicates dropped
    with pytest.raises(ConfigError, match="no video files match"):
        expand_inputs([str(archive / "*.webm")])
    assert main(["predict", str(archive / "a.mp4"), str(archive / "sub" / "b.avi"), *TINY]) == 2
    assert "several videos: give --out RESULTS/" in capsys.readouterr().err
    assert main(["predict", str(archive), "--out", str(tmp_path / "r"), "--json", *TINY]) == 2
    assert "a folder run writes RESULTS/<name>.json" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_ctrl_c_keeps_the_finished_videos(archive, tmp_path, capsys):
    out = tmp_path / "results"
    done = []

    def interrupt_after_first(result):
        done.append(result)
        raise KeyboardInterrupt  # what Ctrl-C raises between two videos

    options = PredictOptions(arch="slowfast_tiny", backend="torch-eager", progress=False)
    with pytest.raises(KeyboardInterrupt):
        predict_folder([str(archive / "a.mp4"), str(archive / "sub")], str(out), options,
                       on_done=interrupt_after_first)
    rows = read_summary(out)
    assert len(rows) == 1 and rows[0]["status"] == "ok" and (out / rows[0]["result"]).is_file()
    assert f"interrupted after 1 of 2 videos: their results are in {out}" in capsys.readouterr().err
    # one video with --out is a folder run too: its JSON and summary row
    assert main(["predict", str(archive / "a.mp4"), "--out", str(tmp_path / "r2"), *TINY]) == 0
    assert [r["status"] for r in read_summary(tmp_path / "r2")] == ["ok"]
