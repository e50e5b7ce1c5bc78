"""`slowfast run`: same windows and predictions as `slowfast predict`, clean stop on signals, one-line errors."""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from slowfast_core.backends import available_backends
from slowfast_core.cli import main
from slowfast_core.commands.demo import write_synthetic_clip

from helpers.errors import cli_error
from helpers.fixtures import fixed_weights_checkpoint
from helpers.waiting import wait_until

SLOWFAST = str(Path(sys.executable).with_name("slowfast"))


def write_clip(path: Path, *, frames: int, fps: float) -> Path:
    """A 128x96 clip of moving shapes, so that windows differ."""
    assert write_synthetic_clip(path, seconds=frames / fps, fps=fps, width=128, height=96) == frames
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_offline_gives_the_windows_and_predictions_of_predict(
    tmp_path: Path, checkpoint_8x8: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=80, fps=25)  # 3.2 s: two regular windows and a tail
    common = ["--weights", str(checkpoint_8x8), "--arch", "slowfast_8x8_r50", "--size", "112", "--stride", "0.6",
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


#: the end-to-end backend runs use the tiny preset: what they prove (the same windows and probabilities through
#: every command and backend) does not need the full R50, whose cold OpenVINO conversion took ~20 s of this file
E2E_COMMON = ["--arch", "slowfast_tiny", "--size", "112", "--stride", "0.6", "--device", "cpu"]


@pytest.fixture(scope="module")
def checkpoint_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """slowfast_tiny with random but fixed weights as a `.pyth`, so that every command loads the same model.

    Its classifier is scaled up 200×: at initialisation the tiny net's 400 probabilities are nearly uniform (top-5
    neighbours 0–1e-6 apart), so comparing label order across backends would test float noise; scaled, they are
    at least 3e-4 apart."""
    return fixed_weights_checkpoint(tmp_path_factory.mktemp("weights") / "random_tiny.pyth", "slowfast_tiny",
                                    head_scale=200.0)


@pytest.fixture(scope="module")
def openvino_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the end-to-end runs: the checkpoint is converted once, then read back."""
    return tmp_path_factory.mktemp("slowfast-cache")


@pytest.fixture(scope="module")
def eager_reference(tmp_path_factory: pytest.TempPathFactory, checkpoint_tiny: Path) -> tuple[Path, list[dict]]:
    """A 3.2 s clip and what `slowfast predict --backend torch-eager` says about it (the reference)."""
    clip = write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=80, fps=25)
    out = tmp_path_factory.mktemp("eager") / "eager.jsonl"
    code = main(["run", "--source", f"file:{clip}", "--jsonl", str(out), *E2E_COMMON,
                 "--weights", str(checkpoint_tiny), "--backend", "torch-eager"])
    assert code == 0
    return clip, read_jsonl(out)


@pytest.mark.parametrize("backend", ["auto", "openvino"])
def test_predict_and_run_with_the_default_backends_match_eager(
    backend: str, checkpoint_tiny: Path, eager_reference, openvino_cache: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--backend auto` (OpenVINO on a CPU where it is installed) and `--backend openvino`, through both
    commands: the same windows as eager, the same labels, probabilities within 1e-4, and the backend named."""
    default = available_backends(torch.device("cpu"))[0]
    if backend != "auto" and backend == default:
        pytest.skip(f"--backend auto is {default} on this machine: the [auto] case ran these commands")
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(openvino_cache))
    clip, reference = eager_reference
    expected_backend = default if backend == "auto" else backend
    args = [*E2E_COMMON, "--weights", str(checkpoint_tiny), "--backend", backend]

    assert main(["predict", str(clip), *args]) == 0  # the text form names the backend it runs
    header = capsys.readouterr().out.splitlines()[1]  # "model ... (weights), <backend description>; input ..."
    assert re.search(rf"\), {re.escape(expected_backend)}\b[^;]* on cpu\b[^;]*; input short side 112", header), header
    assert main(["predict", str(clip), "--jsonl", *args]) == 0
    predicted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    out = tmp_path / "run.jsonl"
    assert main(["run", "--source", f"file:{clip}", "--jsonl", str(out), *args]) == 0
    ran = read_jsonl(out)
    assert len(reference) == len(predicted) == len(ran) == 5  # 1.07 s windows every 0.6 s in 3.2 s: 4 + the tail
    assert all(r["backend"].split()[0] == expected_backend and " on cpu" in r["backend"] for r in ran), ran[0]
    for ref, p, r in zip(reference, predicted, ran):
        for key in ("start", "end", "first_frame", "last_frame"):
            assert ref[key] == p[key] == r[key], key
        assert [x["label"] for x in p["topk"]] == [x["label"] for x in r["topk"]] == [x["label"] for x in ref["topk"]]
        want = [x["prob"] for x in ref["topk"]]
        np.testing.assert_allclose([x["prob"] for x in p["topk"]], want, atol=1e-4, rtol=0)
        np.testing.assert_allclose([x["prob"] for x in r["topk"]], want, atol=1e-4, rtol=0)


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
        wait_until(lambda: proc.poll() is not None or (out.exists() and len(out.read_text().splitlines()) >= 2),
                   timeout=180, what="two predictions from the child")
        assert proc.poll() is None, proc.stderr.read()
        sent = time.time()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, stderr  # 130 / 143: the shell's status for a run a signal ended
    assert "Traceback" not in stderr
    # the stop bound: the metrics are written right after engine.stop(timeout=2) returned (interpreter
    # teardown comes later), so within 2 s of the signal, plus a second for the signal handling around it
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


def test_realtime_run_on_the_real_demo_clip_streams_predictions(tmp_path: Path, realvideo: Path) -> None:
    demo = realvideo / "demo.mp4"
    out = tmp_path / "out.jsonl"
    assert main(["run", "--source", f"file:{demo}", "--realtime", "--size", "32", "--backend", "torch-eager",
                 "--duration", "6", "--jsonl", str(out)]) == 0
    lines = read_jsonl(out)
    assert lines, "no prediction in 6 s of a 28 fps clip"
    for line in lines:
        assert len(line["topk"]) == 5 and line["end"] - line["start"] == pytest.approx(64 / 30, abs=1e-5)
        assert line["timings"]["end_to_end_ms"] >= line["timings"]["inferred_ms"]


def run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return cli_error(code, err)


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
