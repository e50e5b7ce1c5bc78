"""A run that ends by itself without a single prediction says why and exits 1 (it used to exit 0 silently):
a --duration shorter than the model's start. A real-time clip shorter than one window is predicted once,
padded, as `slowfast predict` pads it (it used to give nothing)."""

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


def test_a_realtime_clip_shorter_than_one_window_is_padded(tmp_path: Path) -> None:
    clip = tmp_path / "short.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(30):  # 1 s; a window is 64 frames at 30 fps (2.13 s)
        writer.write(np.full((48, 64, 3), 8 * i, np.uint8))
    writer.release()
    out = tmp_path / "out.jsonl"
    assert main(["run", "--source", f"file:{clip}", "--realtime", "--jsonl", str(out), *FAST]) == 0
    live = [json.loads(line) for line in out.read_text().splitlines()]
    assert live and all(r["padded"] is True for r in live)  # every window of a 1 s clip is a padded one
    assert all(0 <= r["first_frame"] <= r["last_frame"] <= 29 for r in live)
    # offline, the same clip is padded to one window and predicted, as `slowfast predict` does
    assert main(["run", "--source", f"file:{clip}", "--jsonl", str(out), *FAST]) == 0
    offline = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(offline) == 1 and offline[0]["padded"] is True


def test_a_duration_shorter_than_the_first_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = tmp_path / "metrics.json"
    assert main(["run", "--source", "synthetic:160x120@30", "--duration", "0.2", "--metrics", str(metrics),
                 *FAST]) == 1
    error = last_error(capsys)
    assert "no predictions: --duration 0.2 s ran out before the first prediction" in error
    assert "0.53 s of video (a padded quarter of a 2.13 s window)" in error
    assert json.loads(metrics.read_text())["predictions"] == 0  # the metrics are still written
