"""Distributed training with real torchrun processes (Gloo on the CPU): same weights as one process with the
same global batch, and a DDP run that is stopped by SIGTERM resumes to the same result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch

from slowfast_core.train.run_folder import LAST, METRICS
from slowfast_core.train.synth import SynthSettings, generate

from helpers.waiting import wait_until

COMMON = ["--epochs", "4", "--lr", "0.05", "--frozen-bn", "--dropout", "0", "--no-flip", "--workers", "0",
          "--warmup-epochs", "0", "--device", "cpu", "--seed", "7"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthSettings(classes=4, clips_per_class=2, eval_fraction=0.5, seconds=1.2, seed=9))
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("RANK", None)
    return env


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
            "-m", "slowfast_core.train", *args]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / LAST, map_location="cpu", weights_only=True)["model_state"]


def epochs_written(run: Path) -> int:
    """Complete lines in the run's metrics file (it exists, empty, a moment before epoch 1's line is written:
    waiting for the file alone read 0 epochs once in a full-suite run)."""
    try:
        return (run / METRICS).read_text().count("\n")
    except FileNotFoundError:
        return 0


def test_ddp_matches_one_process_and_resumes(synth: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    single = subprocess.run([sys.executable, "-m", "slowfast_core.cli", "train", str(synth), "--out", str(one),
                             "--batch-size", "4", *COMMON], capture_output=True, text=True, timeout=600, env=_env())
    assert single.returncode == 0, single.stderr

    ddp = tmp_path / "ddp"
    proc = subprocess.Popen(torchrun(str(synth), "--out", str(ddp), "--batch-size", "2", *COMMON),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    workers: list[psutil.Process] = []
    try:
        wait_until(lambda: proc.poll() is not None or epochs_written(ddp) >= 1, timeout=300,
                   what="epoch 1's metrics from the torchrun workers")
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        # Freeze both workers the moment epoch 1 is written: while they are stopped nothing moves, so the
        # epochs done are known, and the SIGTERM is certain to land before the last epoch ends.
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True) if "slowfast_core.train" in
                   " ".join(c.cmdline())]
        assert len(workers) == 2, workers
        for w in workers:
            w.suspend()
        done_when_stopped = epochs_written(ddp)
        assert 1 <= done_when_stopped < 4
        proc.send_signal(signal.SIGTERM)  # torchrun forwards it to both workers...
        for w in workers:
            w.send_signal(signal.SIGTERM)  # ...and it is pending in each before either runs another step
            w.resume()
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        for w in workers:  # a failed check between suspend and resume left them stopped, holding 800 MB each
            try:
                w.kill()
            except psutil.NoSuchProcess:
                pass
    state = torch.load(ddp / LAST, map_location="cpu", weights_only=True)["train_state"]["state"]
    assert done_when_stopped <= state["epoch"] < 4, state  # really interrupted, inside the run
    assert state["step"] == 2 * state["epoch"] + state["batch"]  # two steps an epoch: stopped where it says
    assert "--resume" in err

    # resumed through `slowfast train --nproc 2`, which starts torchrun itself; --json: one document, rank 0's
    resumed = subprocess.run([sys.executable, "-m", "slowfast_core.cli", "train", str(synth), "--out", str(ddp),
                              "--batch-size", "2", "--resume", "--nproc", "2", "--json", *COMMON],
                             capture_output=True, text=True, timeout=600, env=_env())
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["epochs"] == 4 and summary["out"] == str(ddp) and len(summary["categories"]) == 4
    records = [json.loads(line) for line in (ddp / METRICS).read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    a, b = weights(one), weights(ddp)
    assert a.keys() == b.keys()
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())
    assert worst <= 1e-5, worst
    steps = torch.load(ddp / LAST, map_location="cpu", weights_only=True)["train_state"]["state"]["step"]
    assert steps == 4 * 2  # 8 clips, global batch 4: two steps an epoch
