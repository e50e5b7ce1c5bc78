"""The training loop: learning, checkpoints that load everywhere, exact resume, Ctrl-C, head mode, evaluate."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.weights.api import create_model
from slowfast_core.train.loop import Interrupted, train
from slowfast_core.train.run_folder import BEST, LAST, METRICS
from slowfast_core.train.recipe import SYNC_BN_NEEDS_CUDA, TrainConfig, lr_at
from slowfast_core.train.synth import SynthSettings, generate
from slowfast_core.weights.checkpoint import load_checkpoint, load_weights
from slowfast_core.weights.native import atomic_save, save_model

from helpers.waiting import wait_until

from helpers.cli import run_cli
from helpers.fixtures import FAST_TRAIN as FAST


@pytest.fixture(scope="module")
def synth(tiny_synth: Path) -> Path:
    return tiny_synth


@pytest.fixture(scope="module")
def overfit(tiny_overfit):
    """A tiny SlowFast trained until it fits its 8 training clips (helpers/fixtures.py, shared with teaching)."""
    return tiny_overfit


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / METRICS).read_text().splitlines()]


def test_a_tiny_model_overfits_eight_clips(overfit) -> None:
    records = metrics(overfit.out)
    assert len(records) == 30 and [r["epoch"] for r in records] == list(range(1, 31))
    assert records[-1]["train_top1"] == 1.0
    assert records[-1]["train_loss"] < 0.25 * records[0]["train_loss"]
    assert {"val_top1", "lr", "clips_per_s", "seconds"} <= set(records[0])
    # one batch per epoch (8 clips, batch 8), no warm-up: the lr of epoch e is the cosine at global step e - 1, so
    # a schedule that restarted every epoch (indexed by the batch of the epoch) would show 0.1 thirty times
    assert [r["lr"] for r in records] == pytest.approx([lr_at(s, total_steps=30, warmup_steps=0, base_lr=0.1)
                                                         for s in range(30)])
    for name in (BEST, LAST, "confusion.csv", "curves.png", "run.json"):
        assert (overfit.out / name).is_file(), name
    run = json.loads((overfit.out / "run.json").read_text())
    assert run["config"]["epochs"] == 30 and run["seed"] == 0 and "torch" in run["versions"]
    assert (overfit.out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_checkpoint_loads_with_its_labels_and_gives_identical_logits(overfit, synth: Path) -> None:
    model = load_weights(str(overfit.out / BEST))
    assert model.config.name == "slowfast_tiny" and list(model.meta.categories) == overfit.categories
    assert model.meta.preprocessing.short_side == 80 and model.meta.trained
    x = [torch.randn(2, 3, 4, 80, 80), torch.randn(2, 3, 16, 80, 80)]
    again = load_checkpoint(overfit.out / BEST)
    with torch.inference_mode():
        assert torch.equal(model(x), again(x))
    saved = overfit.out / "resaved.pyth"
    save_model(model, saved)
    with torch.inference_mode():
        assert torch.equal(load_weights(str(saved))(x), model(x))


def test_a_trained_checkpoint_predicts_through_the_cli(overfit, synth: Path, capsys) -> None:
    clip = synth / (synth / "val.csv").read_text().split()[0]
    code, out, err = run_cli(capsys, "predict", str(clip), "--weights", str(overfit.out / BEST), "--json",
                             "--backend", "torch-cpu")
    assert code == 0, err
    assert "untrained" not in err.lower()
    windows = json.loads(out)["windows"]
    labels = {t["label"] for w in windows for t in w["topk"]}
    assert windows and labels and labels <= set(overfit.categories)


def test_evaluate_multi_view(overfit, synth: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "evaluate", str(overfit.out / BEST), str(synth), "--split", "train",
                             "--clips", "2", "--crops", "3", "--backend", "torch-cpu", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["videos"] == 8 and report["views_per_video"] == 6 and report["split"] == "train"
    confusion = report["confusion"]
    assert len(confusion) == 4 and sum(map(sum, confusion)) == 8 and [sum(r) for r in confusion] == [2, 2, 2, 2]
    assert report["top1"] == pytest.approx(sum(confusion[i][i] for i in range(4)) / 8)
    assert report["top5"] == 1.0  # 4 classes: the truth is always among the top 5
    assert set(report["per_class"]) == set(overfit.categories)


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model_state"]


def test_resume_continues_exactly(synth: Path, tmp_path: Path) -> None:
    common = dict(data=[str(synth)], epochs=3, batch_size=4, lr=0.05, **FAST)
    straight = train(TrainConfig(out=str(tmp_path / "a"), **common))
    stop = threading.Event()

    def progress(what: str, done: int, total: int) -> None:
        if what.startswith("epoch 2/") and done == 1:
            stop.set()  # interrupt inside epoch 2, after its first batch

    with pytest.raises(Interrupted, match="--resume"):
        train(TrainConfig(out=str(tmp_path / "b"), **common), stop=stop, progress=progress)
    saved = torch.load(tmp_path / "b" / LAST, map_location="cpu", weights_only=True)["train_state"]["state"]
    assert (saved["epoch"], saved["batch"]) == (1, 1)
    resumed = train(TrainConfig(out=str(tmp_path / "b"), resume=True, **common))
    assert resumed.state.epoch == 3 and [r["epoch"] for r in metrics(tmp_path / "b")] == [1, 2, 3]
    a, b = _state(tmp_path / "a" / LAST), _state(tmp_path / "b" / LAST)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert metrics(tmp_path / "a")[-1]["train_loss"] == pytest.approx(metrics(tmp_path / "b")[-1]["train_loss"])


def test_resume_without_a_run_is_a_one_line_error(synth: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "train", str(synth), "--out", str(tmp_path), "--resume")
    assert code == 2 and "nothing to resume" in err and "Traceback" not in err


@pytest.mark.parametrize("nproc", ["1", "2"])
def test_sync_bn_without_a_gpu_is_a_one_line_error(synth: Path, tmp_path: Path, capsys, nproc: str) -> None:
    """PyTorch's SyncBatchNorm runs only on GPU modules: on the CPU `--sync-bn` is refused before any process
    starts (it was a torchrun traceback from every worker), and no run folder is made."""
    code, _, err = run_cli(capsys, "train", str(synth), "--out", str(tmp_path / "run"), "--sync-bn", "--nproc", nproc,
                           "--device", "cpu")
    assert code == 2 and err.strip() == f"slowfast: error: {SYNC_BN_NEEDS_CUDA}", err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_writes_a_resumable_checkpoint(synth: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "slowfast_core.cli", "train", str(synth), "--out", str(run),
                             "--epochs", "50", "--batch-size", "2", "--workers", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: proc.poll() is not None or (run / METRICS).is_file(), timeout=240,
                   what="the first epoch's metrics file")
        assert (run / METRICS).is_file(), proc.stderr.read() if proc.poll() is not None else "no epoch in 240 s"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    state = torch.load(run / LAST, map_location="cpu", weights_only=True)["train_state"]["state"]
    assert state["epoch"] >= 1 and state["horizon"] == 50
    assert load_weights(str(run / LAST)).meta.categories  # the interrupted checkpoint is usable as weights too


def test_minutes_bounds_the_run_at_an_epoch_boundary(synth: Path, tmp_path: Path) -> None:
    result = train(TrainConfig(data=[str(synth)], out=str(tmp_path), epochs=30, minutes=1e-4, batch_size=4, **FAST))
    assert result.state.epoch == 1 and (tmp_path / BEST).is_file() and len(metrics(tmp_path)) == 1


def test_the_last_epoch_recomputes_bn_over_a_whole_epoch(synth: Path, tmp_path: Path) -> None:
    """Precise BN on by default (batches of 1): a quarter epoch (at least 4 batches) before each validation, a
    whole epoch after the last one, by its epoch count or by its --minutes budget: the kept model's statistics."""
    common = dict(data=[str(synth)], batch_size=1, scale=(64, 64), crop=64, **FAST)
    train(TrainConfig(out=str(tmp_path / "epochs"), epochs=3, **common))
    assert [r["precise_bn_batches"] for r in metrics(tmp_path / "epochs")] == [4, 4, 8]  # 8 clips, 8 steps
    train(TrainConfig(out=str(tmp_path / "minutes"), epochs=30, minutes=1e-4, **common))
    assert [r["precise_bn_batches"] for r in metrics(tmp_path / "minutes")] == [8]


def test_the_classifier_learns_at_its_multiple_of_the_rate(synth: Path, tmp_path: Path) -> None:
    """--head-lr-mult M: every step the classifier's two groups run at M times the scheduled rate (the one the
    metrics log), the rest at the rate itself."""
    common = dict(data=[str(synth)], batch_size=4, lr=0.05, head_lr_mult=0.25, **FAST)
    train(TrainConfig(out=str(tmp_path), epochs=2, **common))
    saved = torch.load(tmp_path / LAST, map_location="cpu", weights_only=True)["train_state"]
    groups = saved["optimizer"]["param_groups"]
    scheduled = metrics(tmp_path)[-1]["lr"]
    assert sorted(g["lr_mult"] for g in groups) == [0.25, 0.25, 1.0, 1.0]
    for g in groups:
        assert g["lr"] == pytest.approx(scheduled * g["lr_mult"]), g
    assert sorted(len(g["params"]) for g in groups if g["lr_mult"] == 0.25) == [1, 1]  # the weight, the bias


def test_head_mode_trains_on_cached_features(overfit, synth: Path, tmp_path: Path) -> None:
    config = dict(data=[str(synth)], init=str(overfit.out / BEST), arch="", train="head", views=2, **FAST)
    first = train(TrainConfig(out=str(tmp_path / "h1"), **config))
    assert first.metrics["cache_misses"] == 8 + 4 and first.metrics["cache_hits"] == 0
    second = train(TrainConfig(out=str(tmp_path / "h2"), **config))
    assert second.metrics["cache_misses"] == 0 and second.metrics["cache_hits"] == 12  # nothing decoded again
    assert second.metrics["train_top1"] == 1.0
    model = load_weights(str(tmp_path / "h2" / BEST))
    base = load_weights(str(overfit.out / BEST))
    for k, v in base.state_dict().items():
        if not k.startswith("blocks.6."):
            assert torch.equal(v, model.state_dict()[k]), k  # the backbone is kept as it was
    assert list(model.meta.categories) == overfit.categories


def test_head_mode_needs_init(synth: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "train", str(synth), "--out", str(tmp_path), "--train", "head")
    assert code == 2 and "--init" in err


def test_learning_rate_warms_up_then_follows_a_half_cosine() -> None:
    lrs = [lr_at(s, total_steps=100, warmup_steps=10, base_lr=0.1) for s in range(101)]
    assert lrs[0] == pytest.approx(0.001) and lrs[10] == pytest.approx(0.1) and lrs[100] == pytest.approx(0.0)
    assert lrs[55] == pytest.approx(0.05)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11])) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = create_model("slowfast_tiny", num_classes=3)
    path = tmp_path / "ckpt.pyth"
    save_model(model, path)
    before = path.read_bytes()

    def full_disk(obj, f, *args, **kwargs):  # the write fails part-way, as on a full disk
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="the disk is full.*previous checkpoint is kept"):
        atomic_save({"x": 1}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pyth"]


def test_bench_train_reports_every_figure(synth: Path) -> None:
    """In a real process: the bench forks DataLoader workers, and forking the test run itself (Qt, OpenVINO and
    torch threads alive) ended the whole run with SIGSEGV."""
    result = subprocess.run([sys.executable, "-m", "slowfast_core.cli", "bench", "train", "--data", str(synth),
                             "--loader-clips", "4", "--steps", "1", "--batch-size", "2", "--device", "cpu", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("loader_clips_per_s", "feature_clips_per_s", "step_clips_per_s", "peak_rss_mb"):
        assert report[key] > 0, key
    assert report["arch"] == "slowfast_tiny" and report["size"] == 70 and report["amp"] == "off"


def test_an_unreadable_clip_is_skipped_and_named(synth: Path, tmp_path: Path) -> None:
    """In a real process: decoding a damaged file is the decoder libraries' business, and a crash there must not
    take the test run with it (in-process, a later test of the run died with SIGSEGV)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    lines = [f"{synth / p} {i}" for p, i in (line.split() for line in (synth / "train.csv").read_text().splitlines())]
    (data / "train.csv").write_text("\n".join(lines + ["broken.mp4 0"]) + "\n")
    (data / "label_map.json").write_text((synth / "label_map.json").read_text())
    result = subprocess.run([sys.executable, "-m", "slowfast_core.cli", "train", str(data), "--out", str(tmp_path / "r"),
                             "--epochs", "1", "--batch-size", "3", "--workers", "0"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 unreadable clip(s)" in result.stderr and "broken.mp4" in result.stderr
    assert metrics(tmp_path / "r")[0]["skipped"] == 1


def test_train_last_changes_only_res5_and_the_head(overfit, synth: Path, tmp_path: Path) -> None:
    result = train(TrainConfig(data=[str(synth)], out=str(tmp_path), init=str(overfit.out / BEST), arch="",
                               train="last", epochs=1, batch_size=4, lr=0.05, **FAST))
    before, after = _state(overfit.out / BEST), _state(result.out / LAST)
    changed = {k.split(".")[1] for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])}
    assert changed == {"4", "6"}  # blocks.4 = res5, blocks.6 = the classifier
