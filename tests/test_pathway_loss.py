"""--pathway-loss: a classifier on each pathway alone beside the fused one (train.pathway_loss), in training only."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from slowfast_core.model.config import get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.train.loop import Interrupted, train
from slowfast_core.train.pathway_loss import NEEDS_TWO_PATHWAYS, PathwayHeads, pathway_loss, pathway_widths
from slowfast_core.train.recipe import TrainConfig
from slowfast_core.train.run_folder import BEST, LAST, METRICS
from slowfast_core.weights.checkpoint import load_weights

from helpers.cli import run_cli
from helpers.fixtures import FAST_TRAIN as FAST


def _clips(batch: int = 2) -> list[torch.Tensor]:
    torch.manual_seed(3)
    return [torch.randn(batch, 3, 4, 64, 64), torch.randn(batch, 3, 16, 64, 64)]  # slow (B,3,4,H,W), fast (B,3,16,H,W)


def _net(classes: int = 5) -> SlowFast:
    torch.manual_seed(0)
    return SlowFast(get_config("slowfast_tiny", num_classes=classes))


def test_each_pathway_has_its_own_classifier_on_its_own_slice_of_the_pooled_feature() -> None:
    net = _net()
    net.blocks[6].dropout.p = 0.0  # train mode without dropout's draws: every output is a function of x
    heads = PathwayHeads(net, dropout=0.0).train()
    x = _clips()
    fused, parts = heads(x)
    assert fused.shape == (2, 5) and [p.shape for p in parts] == [(2, 5), (2, 5)]
    slow_c, fast_c = pathway_widths(net)
    assert (slow_c, fast_c) == (256, 64) and heads.names == ("slow", "fast")  # 1/8 width, beta 1/4
    feats = net.features(x)  # (B, 320): slow first, as PathwayPool concatenates them
    assert torch.allclose(parts[0], heads.heads[0](feats[:, :slow_c]), atol=1e-6)
    assert torch.allclose(parts[1], heads.heads[1](feats[:, slow_c:]), atol=1e-6)
    assert torch.allclose(fused, net.blocks[6].proj(feats), atol=1e-6)  # the network's own classifier


def test_in_eval_mode_it_is_the_network() -> None:
    net = _net()
    heads = PathwayHeads(net, dropout=0.5).eval()
    x = _clips()
    with torch.inference_mode():
        out = heads(x)
        assert isinstance(out, torch.Tensor) and torch.equal(out, net(x))


def test_the_fast_classifiers_loss_trains_the_fast_pathway_alone() -> None:
    """Fusion runs Fast -> Slow, so the Fast pathway's pooled feature depends on the Fast pathway only: its
    classifier's loss must reach the Fast blocks and none of the Slow ones (a split in the wrong order, or at the
    wrong width, would send it into the Slow pathway). The Slow classifier's reaches both, through the laterals."""
    net = _net()
    heads = PathwayHeads(net, dropout=0.0).train()
    labels = torch.tensor([1, 3])
    _, parts = heads(_clips())
    nn.functional.cross_entropy(parts[1], labels).backward()
    slow_stem, fast_stem = net.blocks[0].multipathway_blocks
    slow_res5, fast_res5 = net.blocks[4].multipathway_blocks
    assert all(p.grad is None or not p.grad.any() for p in [*slow_stem.parameters(), *slow_res5.parameters()])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (fast_stem.conv.weight,
                                                                       next(fast_res5.parameters())))
    assert heads.heads[0].weight.grad is None and net.blocks[6].proj.weight.grad is None
    net.zero_grad(set_to_none=True)
    _, parts = heads(_clips())
    nn.functional.cross_entropy(parts[0], labels).backward()
    assert slow_stem.conv.weight.grad.abs().sum() > 0 and fast_stem.conv.weight.grad.abs().sum() > 0


def test_the_loss_adds_each_pathways_weighted_cross_entropy_and_reports_the_fused_one() -> None:
    torch.manual_seed(1)
    fused, slow, fast = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([0, 2, 1, 1])
    ce = nn.functional.cross_entropy
    total, reported = pathway_loss(fused, [slow, fast], labels, 0.5)
    assert total.item() == pytest.approx((ce(fused, labels) + 0.5 * ce(slow, labels) + 0.5 * ce(fast, labels)).item())
    assert reported.item() == pytest.approx(ce(fused, labels).item()) and not reported.requires_grad


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / METRICS).read_text().splitlines()]


def test_a_run_trains_the_pathways_classifiers_and_saves_only_the_network(tiny_synth: Path, tmp_path: Path) -> None:
    """The checkpoint is a plain SlowFast (no extra keys: it loads and exports as any other); the pathways'
    classifiers are in the resume state, trained (moved from their start), at the classifier's rate; each
    epoch logs their training top-1 and a train_loss that is the fused cross-entropy alone (at the start about
    ln 4 on four classes, not three times it)."""
    config = TrainConfig(data=[str(tiny_synth)], out=str(tmp_path), epochs=2, batch_size=4, lr=0.05,
                         head_lr_mult=0.25, pathway_loss=1.0, **FAST)
    train(config)
    saved = torch.load(tmp_path / LAST, map_location="cpu", weights_only=True)
    assert not [k for k in saved["model_state"] if not k.startswith("blocks.")]
    classifiers = saved["train_state"]["pathway_heads"]
    assert sorted(classifiers) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    assert classifiers["0.weight"].shape == (4, 256) and classifiers["1.weight"].shape == (4, 64)
    torch.manual_seed(0)
    fresh = PathwayHeads(SlowFast(get_config("slowfast_tiny", num_classes=4)), dropout=0.5).heads.state_dict()
    assert not torch.equal(fresh["1.weight"], classifiers["1.weight"])  # trained (same seed, same start)
    mults = sorted(g["lr_mult"] for g in saved["train_state"]["optimizer"]["param_groups"])
    assert mults == [0.25] * 4 + [1.0, 1.0]  # fused weight + bias, the pathways' weights + biases; the rest
    model = load_weights(str(tmp_path / BEST))
    assert model.config.name == "slowfast_tiny" and len(model.meta.categories) == 4
    records = _metrics(tmp_path)
    assert set(records[-1]["train_top1_pathways"]) == {"slow", "fast"}
    assert all(0 <= v <= 1 for r in records for v in r["train_top1_pathways"].values())
    assert records[0]["train_loss"] < 2.5  # ln 4 = 1.39; the sum of three would be near 4.2


def test_resume_with_pathway_loss_continues_exactly(tiny_synth: Path, tmp_path: Path) -> None:
    common = dict(data=[str(tiny_synth)], epochs=2, batch_size=4, lr=0.05, pathway_loss=0.5, **FAST)
    train(TrainConfig(out=str(tmp_path / "a"), **common))
    stop = threading.Event()

    def progress(what: str, done: int, total: int) -> None:
        if what.startswith("epoch 2/") and done == 1:
            stop.set()

    with pytest.raises(Interrupted):
        train(TrainConfig(out=str(tmp_path / "b"), **common), stop=stop, progress=progress)
    train(TrainConfig(out=str(tmp_path / "b"), resume=True, **common))
    a, b = (torch.load(tmp_path / r / LAST, map_location="cpu", weights_only=True) for r in ("a", "b"))
    for k in a["model_state"]:
        assert torch.equal(a["model_state"][k], b["model_state"][k]), k
    for k in a["train_state"]["pathway_heads"]:
        assert torch.equal(a["train_state"]["pathway_heads"][k], b["train_state"]["pathway_heads"][k]), k


def test_resuming_with_another_pathway_loss_setting_is_a_one_line_error(tiny_synth: Path, tmp_path: Path,
                                                                        capsys) -> None:
    common = ["train", str(tiny_synth), "--epochs", "1", "--batch-size", "4", "--workers", "0", "--from-scratch"]
    assert run_cli(capsys, *common, "--out", str(tmp_path / "with"), "--pathway-loss", "1")[0] == 0
    assert run_cli(capsys, *common, "--out", str(tmp_path / "without"))[0] == 0
    before = (tmp_path / "with" / LAST).read_bytes()
    code, _, err = run_cli(capsys, *common, "--out", str(tmp_path / "with"), "--resume")
    assert code == 2 and "trained with --pathway-loss: resume it with the same" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, *common, "--out", str(tmp_path / "without"), "--resume", "--pathway-loss", "1")
    assert code == 2 and "trained without --pathway-loss: resume it without" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert (tmp_path / "with" / LAST).read_bytes() == before  # nothing trained is lost


@pytest.mark.parametrize("args, message", [
    (["--arch", "slow_tiny", "--pathway-loss", "1"], NEEDS_TWO_PATHWAYS.format(arch="slow_tiny")),
    (["--pathway-loss", "-1"], "--pathway-loss -1.0 must be a weight of 0 or more"),
    (["--pathway-loss", "nan"], "--pathway-loss nan must be a weight of 0 or more"),
])
def test_bad_pathway_loss_is_one_line_and_leaves_no_run_folder(tiny_synth: Path, tmp_path: Path, capsys,
                                                               args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, "train", str(tiny_synth), "--out", str(tmp_path / "run"), "--from-scratch",
                           "--workers", "0", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()
