"""A run that ends by itself without a single prediction says why and exits 1 (it used to exit 0 silently):
a real-time clip shorter than one window, or a --duration shorter than the model's start."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.cli import main

FAST = ["--arch", "fast_32x2_r50", "--size", "32", "--backend", "torch-eager", "--device", "cpu"]


def last_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("slowfast: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_realtime_clip_shorter_than_one_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "short.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(30):  # 1 s; a window is 64 frames at 30 fps (2.13 s)
        writer.write(np.full((48, 64, 3), 8 * i, np.uint8))
    writer.release()
    out = tmp_path / "out.jsonl"
    assert main(["run", "--source", f"file:{clip}", "--realtime", "--jsonl", str(out), *FAST]) == 1
    error = last_error(capsys)
    assert "no predictions" in error and "shorter than one 2.13 s window" in error and "--realtime" in error
    assert out.read_text() == ""
    # offline, the same clip is padded to one window and predicted, as `slowfast predict` does
    assert main(["run", "--source", f"file:{clip}", "--jsonl", str(out), *FAST]) == 0
    assert len([json.loads(line) for line in out.read_text().splitlines()]) == 1


def test_a_duration_shorter_than_the_first_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = tmp_path / "metrics.json"
    assert main(["run", "--source", "synthetic:160x120@30", "--duration", "0.5", "--metrics", str(metrics),
                 *FAST]) == 1
    error = last_error(capsys)
    assert "no predictions: --duration 0.5 s ran out before the first prediction" in error
    assert "2.13 s of video" in error
    assert json.loads(metrics.read_text())["predictions"] == 0  # the metrics are still written
