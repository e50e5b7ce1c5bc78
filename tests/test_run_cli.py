"""`slowfast run`: same windows and predictions as `slowfast predict`, clean stop on signals, one-line errors."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from slowfast_core.cli import main
from slowfast_core.model import get_config
from slowfast_core.model.net import SlowFast

REAL = Path(__file__).resolve().parents[2] / "shared" / "realvideo"
SLOWFAST = str(Path(sys.executable).with_name("slowfast"))


def write_clip(path: Path, *, frames: int, fps: float, size: tuple[int, int] = (128, 96)) -> Path:
    """Moving bars on a gradient, so that windows differ."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    w, h = size
    base = np.tile(np.linspace(0, 200, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
    for i in range(frames):
        frame = base.copy()
        x = (i * 5) % (w - 16)
        frame[:, x : x + 16] = (30, 220, 90)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random but fixed weights, so that two processes (or two commands) load the same model."""
    torch.manual_seed(0)
    model = SlowFast(get_config("slowfast_8x8_r50"))
    path = tmp_path_factory.mktemp("weights") / "random_8x8.pyth"
    torch.save({"model_state": model.state_dict()}, path)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_offline_gives_the_windows_and_predictions_of_predict(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=80, fps=25)  # 3.2 s: two regular windows and a tail
    common = ["--weights", str(checkpoint), "--arch", "slowfast_8x8_r50", "--size", "112", "--stride", "0.6",
              "--backend", "torch-eager", "--device", "cpu"]
    assert main(["predict", str(clip), "--json", *common]) == 0
    predicted = json.loads(capsys.readouterr().out)["windows"]  # one JSON document: metadata and the windows
    out = tmp_path / "run.jsonl"
    metrics = tmp_path / "metrics.json"
    assert main(["run", "--source", f"file:{clip}", "--jsonl", str(out), "--metrics", str(metrics), *common]) == 0
    ran = read_jsonl(out)
    assert len(predicted) == 3 and len(ran) == len(predicted)
    for p, r in zip(predicted, ran):
        for key in ("window", "start", "end", "first_frame", "last_frame"):
            assert r[key] == p[key], key
        assert [x["label"] for x in r["topk"]] == [x["label"] for x in p["topk"]]
        np.testing.assert_allclose([x["prob"] for x in r["topk"]], [x["prob"] for x in p["topk"]], atol=2e-6)
    m = json.loads(metrics.read_text())
    assert m["frames_read"] == 80 and m["predictions"] == 3 and m["windows_dropped_stale"] == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_flushes(tmp_path: Path, signum: int) -> None:
    out, metrics = tmp_path / "out.jsonl", tmp_path / "metrics.json"
    proc = subprocess.Popen(
        [SLOWFAST, "run", "--source", "synthetic:160x120@30", "--size", "32", "--stride", "0.2",
         "--backend", "torch-eager", "--jsonl", str(out), "--metrics", str(metrics)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len(out.read_text().splitlines()) >= 2:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read()
        sent = time.time()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    # the metrics are written right after engine.stop(timeout=2) returned (interpreter teardown comes later)
    assert metrics.stat().st_mtime - sent < 2.0 + 1.0
    lines = read_jsonl(out)  # every line complete, valid JSON
    assert len(lines) >= 2
    m = json.loads(metrics.read_text())
    assert m["predictions"] == len(lines) and m["state"] == "stopped"


def test_a_reader_that_leaves_ends_the_run_quietly() -> None:
    """`slowfast run ... | head -n 2`: the run stops once the pipe closes, exit 0, no traceback."""
    proc = subprocess.Popen(
        [SLOWFAST, "run", "--source", "synthetic:160x120@30", "--size", "32", "--stride", "0.2",
         "--backend", "torch-eager", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = [proc.stdout.readline() for _ in range(2)]
        proc.stdout.close()  # the reader leaves
        stderr = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(json.loads(line)["topk"] for line in first)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Broken pipe" not in stderr


def test_a_full_disk_stops_the_run_with_one_line(tmp_path: Path) -> None:
    """--jsonl onto a full disk (/dev/full answers every write with ENOSPC): exit 1, one error line."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available on this system")
    proc = subprocess.run(
        [SLOWFAST, "run", "--source", "synthetic:160x120@30", "--size", "32", "--stride", "0.2",
         "--backend", "torch-eager", "--duration", "120", "--jsonl", "/dev/full"],
        capture_output=True, text=True, timeout=120,
    )
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert proc.returncode == 1
    assert len(errors) == 1 and "No space left on device" in errors[0] and "/dev/full" in errors[0]
    assert "Traceback" not in proc.stderr


def test_realtime_run_on_the_real_demo_clip_streams_predictions(tmp_path: Path) -> None:
    demo = REAL / "demo.mp4"
    if not demo.exists():
        pytest.skip(f"real clips not found in {REAL}")
    out = tmp_path / "out.jsonl"
    assert main(["run", "--source", f"file:{demo}", "--realtime", "--size", "32", "--backend", "torch-eager",
                 "--duration", "6", "--jsonl", str(out)]) == 0
    lines = read_jsonl(out)
    assert lines, "no prediction in 6 s of a 28 fps clip"
    for line in lines:
        assert len(line["topk"]) == 5 and line["end"] - line["start"] == pytest.approx(64 / 30, abs=1e-5)
        assert line["timings"]["end_to_end_ms"] >= line["timings"]["inferred_ms"]


def run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slowfast: error:"), err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["run", "--source", "webcam"], "unknown source"),
        (["run"], "no --source"),
        (["run", "--source", "file:/nonexistent/clip.mp4"], "does not exist"),
        (["run", "--source", "synthetic:20x20"], "too small"),
        (["run", "--source", "synthetic", "--duration", "-1"], "--duration"),
        (["run", "--source", "synthetic", "--stride", "abc"], "stride"),
        (["run", "--source", "synthetic", "--device", "tpu", "--size", "64"], "device"),
    ],
)
def test_user_mistakes_are_one_line_errors(argv: list[str], pattern: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pattern in run_error(argv, capsys)


def test_no_camera_here(capsys: pytest.CaptureFixture[str]) -> None:
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has a camera")
    assert "cannot open camera 0" in run_error(["run", "--source", "camera:0"], capsys)
    assert main(["run", "--list-cameras"]) == 0
    assert "no camera found" in capsys.readouterr().out


def test_bench_pipeline_reports_every_metric(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "pipeline", "--size", "32", "--duration", "3", "--width", "160", "--height", "120",
                 "--backend", "torch-eager", "--quiet", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for label in ("capture", "predictions", "inference", "end-to-end", "overhead", "memory", "stop"):
        assert f"  {label}" in text, label
    m = json.loads(out.read_text())
    assert m["frames_read"] > 30 and m["stopped_cleanly"] and m["threads_left"] == []
    assert m["source"] == "synthetic 160x120@30" and m["size"] == 32
