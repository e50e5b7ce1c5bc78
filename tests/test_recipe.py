"""The training recipe as pure functions (train/recipe.py): defaults per arch, their scaling, every bad value as a
one-line ConfigError, the learning-rate schedule's values, weight-decay groups, what each mode trains, frozen BN.
test_train_loop runs the loop that uses them (and checks the loop's lr follows the global step)."""

from __future__ import annotations

import math

import pytest
from torch import nn

from slowfast_core.errors import ConfigError
from slowfast_core.weights.api import create_model
from slowfast_core.train.recipe import (
    DEFAULTS,
    TIME_BOUND_EPOCHS,
    ArchDefaults,
    TrainConfig,
    arch_defaults,
    freeze_bn,
    lr_at,
    parameter_groups,
    resolve,
    set_trainable,
)


def config(**kw) -> TrainConfig:
    return TrainConfig(data=["d"], out="o", **kw)


def test_defaults_per_arch_and_when_fine_tuning() -> None:
    # every preset at PySlowFast's rate per clip (0.1 for 64 clips): the tiny ones diverged at twice it
    assert DEFAULTS["tiny"] == ArchDefaults(epochs=30, batch_size=16, lr=0.025, warmup_epochs=2)
    assert arch_defaults("slowfast_tiny", finetune=False) == DEFAULTS["tiny"]
    assert arch_defaults("fast_tiny", finetune=True) == ArchDefaults(15, 16, pytest.approx(0.005), 1)
    assert type(arch_defaults("fast_tiny", finetune=True).epochs) is int  # half the epochs, a whole number
    assert arch_defaults("slowfast_8x8_r50", finetune=False) == DEFAULTS["full"] == ArchDefaults(196, 8, 0.0125, 34)
    assert arch_defaults("slowfast_8x8_r50", finetune=True) == DEFAULTS["finetune"] == ArchDefaults(20, 8, 0.005, 1)


def test_resolve_fills_the_zeros() -> None:
    c = resolve(config(), world_size=1)
    assert (c.epochs, c.batch_size, c.lr, c.warmup_epochs) == (30, 16, 0.025, 2)
    scaled = resolve(config(arch="slowfast_8x8_r50"), world_size=4)
    assert scaled.lr == pytest.approx(0.0125 * 4) and scaled.batch_size == 8  # linear scaling, per process batch
    fine = resolve(config(init="x.pyth"))
    assert (fine.epochs, fine.lr, fine.warmup_epochs) == (15, pytest.approx(0.005), 1)
    assert resolve(config(minutes=2.0)).epochs == TIME_BOUND_EPOCHS  # the time decides
    kept = resolve(config(epochs=3, batch_size=2, lr=0.3, warmup_epochs=0.0, minutes=1.0), world_size=8)
    assert (kept.epochs, kept.batch_size, kept.lr, kept.warmup_epochs) == (3, 2, 0.3, 0.0)


@pytest.mark.parametrize("kw,says", [
    ({"epochs": -1}, "--epochs -1 must be at least 1"),
    ({"batch_size": -2}, "--batch-size -2 must be at least 1"),
    ({"lr": -0.1}, "--lr -0.1 must be a positive number"),
    ({"lr": math.inf}, "--lr inf must be a positive number"),
    ({"lr": math.nan}, "--lr nan must be a positive number"),
    ({"minutes": 0.0}, "--minutes 0.0 must be positive"),
    ({"minutes": -1.0}, "--minutes -1.0 must be positive"),
    ({"train": "last"}, r"--train last needs --init WEIGHTS \(a trained backbone to keep\)"),
    ({"train": "head"}, "--train head needs --init WEIGHTS"),
    ({"scale": (31, 40)}, r"--scale \(31, 40\) must be two sizes lo <= hi in 32..1024"),
    ({"scale": (80, 70)}, r"--scale \(80, 70\) must be two sizes lo <= hi"),
    ({"scale": (80, 1025)}, r"--scale \(80, 1025\) must be"),
])
def test_bad_values_are_one_line_config_errors(kw: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^{says}"):
        resolve(config(**kw))


def test_the_smallest_values_are_accepted() -> None:
    c = resolve(config(epochs=1, batch_size=1, lr=1e-9))
    assert (c.epochs, c.batch_size, c.lr) == (1, 1, 1e-9)


@pytest.mark.parametrize("scale", [(32, 32), (80, 100), (1024, 1024)])
def test_scale_edges_are_accepted(scale: tuple[int, int]) -> None:
    assert resolve(config(scale=scale)).scale == scale


def test_lr_warms_up_linearly_then_follows_a_half_cosine() -> None:
    kw = dict(total_steps=110, warmup_steps=10, base_lr=0.2)
    assert lr_at(0, **kw) == pytest.approx(0.002)  # base / 100
    assert lr_at(5, **kw) == pytest.approx(0.002 + (0.2 - 0.002) * 0.5)
    assert lr_at(10, **kw) == pytest.approx(0.2)
    assert lr_at(35, **kw) == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    assert lr_at(60, **kw) == pytest.approx(0.1) and lr_at(110, **kw) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(500, **kw) == pytest.approx(0.0, abs=1e-12)  # past the end: stays at 0
    assert lr_at(0, total_steps=10, warmup_steps=0, base_lr=0.2) == pytest.approx(0.2)  # no warm-up
    assert lr_at(3, total_steps=0, warmup_steps=0, base_lr=1.0) == pytest.approx(0.0, abs=1e-12)  # a 0-step run
    assert lr_at(0, total_steps=10, warmup_steps=1, base_lr=1.0) == pytest.approx(0.01)  # one warm-up step
    assert lr_at(0.5, total_steps=1, warmup_steps=0, base_lr=1.0) == pytest.approx(0.5)  # a one-step run: half way


def test_parameter_groups_exempt_bn_and_biases_from_weight_decay() -> None:
    net = nn.Sequential(nn.Conv3d(3, 4, 1, bias=True), nn.BatchNorm3d(4), nn.Linear(4, 2))
    decay, no_decay = parameter_groups(net, 1e-4)
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(net[0].weight), id(net[2].weight)}
    assert {id(p) for p in no_decay["params"]} == {id(net[0].bias), id(net[1].weight), id(net[1].bias),
                                                   id(net[2].bias)}
    net[2].weight.requires_grad = False  # a frozen weight is left out, and its module's bias still counts
    groups = parameter_groups(net, 1e-4)
    assert id(net[2].weight) not in {id(p) for g in groups for p in g["params"]}
    assert id(net[2].bias) in {id(p) for p in groups[1]["params"]}


def test_the_classifier_gets_groups_of_its_own_at_its_multiple() -> None:
    """head_lr_mult != 1: the final Linear's weight (with decay) and bias (without) in groups of their own with
    that lr_mult; every other parameter once, at 1; at 1 the two groups of before (old checkpoints resume)."""
    net = create_model("slow_tiny", categories=["a", "b", "c"])
    proj = net.blocks[6].proj
    groups = parameter_groups(net, 1e-4, head_lr_mult=0.1)
    by_id = {id(p): g for g in groups for p in g["params"]}
    assert len(by_id) == sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    assert by_id[id(proj.weight)]["lr_mult"] == 0.1 and by_id[id(proj.weight)]["weight_decay"] == 1e-4
    assert by_id[id(proj.bias)]["lr_mult"] == 0.1 and by_id[id(proj.bias)]["weight_decay"] == 0.0
    head = {id(proj.weight), id(proj.bias)}
    assert {g["lr_mult"] for pid, g in by_id.items() if pid not in head} == {1.0}
    plain = parameter_groups(net, 1e-4)
    assert [(g["weight_decay"], g["lr_mult"]) for g in plain] == [(1e-4, 1.0), (0.0, 1.0)]


@pytest.mark.parametrize("mult", [0.0, -0.1, float("nan")])
def test_a_classifier_multiplier_must_be_positive(mult: float) -> None:
    with pytest.raises(ConfigError, match="--head-lr-mult"):
        resolve(config(head_lr_mult=mult))


@pytest.mark.parametrize("mode,trained", [("all", {0, 1, 2, 3, 4, 5, 6}), ("last", {4, 6}), ("head", {6})])
def test_set_trainable(mode: str, trained: set[int]) -> None:
    model = create_model("slowfast_tiny")
    set_trainable(model, mode)
    for i, block in enumerate(model.blocks):
        flags = {p.requires_grad for p in block.parameters()}
        assert flags <= {i in trained}, (i, flags)
    wrapped = nn.Module()
    wrapped.module = model  # a DDP-like wrapper: its .module is trained
    set_trainable(wrapped, "head")
    assert {p.requires_grad for p in model.blocks[6].parameters()} == {True}
    assert {p.requires_grad for p in model.blocks[4].parameters()} == {False}


def test_freeze_bn_puts_only_bn_layers_in_eval_mode() -> None:
    model = create_model("slowfast_tiny").train()
    freeze_bn(model)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns and not any(m.training for m in bns)
    assert all(m.training for m in model.modules() if not isinstance(m, nn.modules.batchnorm._BatchNorm))


def test_a_config_reads_back_as_json() -> None:
    c = config(epochs=3, scale=(80, 100))
    assert c.to_json()["epochs"] == 3 and c.to_json()["scale"] == (80, 100) and c.to_json()["data"] == ["d"]


def test_train_beta_inv_builds_the_fast_pathway_that_narrow() -> None:
    from slowfast_core.cli import build_parser
    from slowfast_core.commands.train import _config
    from slowfast_core.train.start import build_model

    def fast_stem(argv: list[str]) -> int:
        config = _config(build_parser().parse_args(["train", "DATA", "--out", "R", *argv]))
        return build_model(config, ["a", "b"]).config.fast_fusion_dims()[-1]  # Fast channels into res5

    default, narrow = fast_stem(["--from-scratch"]), fast_stem(["--from-scratch", "--beta-inv", "16"])
    assert narrow < default and narrow == fast_stem(["--beta-inv", "16"])  # from scratch is the default


@pytest.mark.parametrize(("argv", "says"), [(["--beta-inv", "16", "--init", "x.pyth"], "drop --init"),
                                            (["--beta-inv", "0"], "must be at least 1"),
                                            (["--fast-min-channels", "4", "--init", "x.pyth"], "drop --init"),
                                            (["--fast-min-channels", "0"], "must be in 1..64"),
                                            (["--fast-input", "diff", "--init", "x.pyth"], "drop --init"),
                                            (["--fast-min-channels", "65"], "must be in 1..64")])
def test_train_bad_fast_pathway_widths_are_one_line(tmp_path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                                    says: str) -> None:
    from slowfast_core.cli import main

    assert main(["train", str(tmp_path), "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_train_fast_input_builds_a_fast_stem_on_frame_differences() -> None:
    """--fast-input diff: the model built from scratch differences the Fast frames (Table 5c); the default and
    --fast-input rgb do not, and the Slow pathway never does."""
    from slowfast_core.cli import build_parser
    from slowfast_core.commands.train import _config
    from slowfast_core.train.start import build_model

    def stems(argv: list[str]) -> list[bool]:
        config = _config(build_parser().parse_args(["train", "DATA", "--out", "R", *argv]))
        return [stem.time_difference for stem in build_model(config, ["a", "b"]).blocks[0].multipathway_blocks]

    assert stems(["--fast-input", "diff"]) == [False, True]
    assert stems([]) == stems(["--fast-input", "rgb"]) == [False, False]


def test_train_fast_min_channels_floors_every_fast_width() -> None:
    """--fast-min-channels N: at beta 1/16 the tiny preset's Fast stem is one channel; with 4 it and every Fast
    layer below 4 channels are 4, the wider ones (res4, res5) and the Slow pathway are unchanged."""
    from slowfast_core.cli import build_parser
    from slowfast_core.commands.train import _config
    from slowfast_core.train.start import build_model

    def model(argv: list[str]):
        config = _config(build_parser().parse_args(["train", "DATA", "--out", "R", "--beta-inv", "16", *argv]))
        return build_model(config, ["a", "b"]).config

    thin, floored = model([]), model(["--fast-min-channels", "4"])
    thin_fast, floored_fast = thin.pathway_specs()[1], floored.pathway_specs()[1]
    assert (thin_fast.stem_dim, floored_fast.stem_dim) == (1, 4)
    assert [(s.dim_inner, s.dim_out) for s in floored_fast.stages] == [
        (max(4, s.dim_inner), max(4, s.dim_out)) for s in thin_fast.stages] == [(4, 4), (4, 4), (4, 8), (4, 16)]
    assert floored.fast_fusion_dims() == (4, 4, 4, 8) and thin.fast_fusion_dims() == (1, 2, 4, 8)
    slow_thin, slow_floored = thin.pathway_specs()[0], floored.pathway_specs()[0]
    assert slow_floored.stem_dim == slow_thin.stem_dim == 8
    assert [s.dim_out for s in slow_floored.stages] == [s.dim_out for s in slow_thin.stages]
    # the laterals carry the floored Fast widths into Slow (tconv: twice the Fast channels)
    assert [s.dim_in for s in slow_floored.stages][:1] == [8 + 2 * 4]
