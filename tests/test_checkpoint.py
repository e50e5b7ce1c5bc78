"""Checkpoint loading: PyTorchVideo checkpoints give PyTorchVideo's logits, arch detection, heads, errors.

Reference models are PyTorchVideo's own (`pytorchvideo.models.hub.*`, pretrained=False) with random BN
parameters and running statistics, saved as `.pyth` files in tmp_path, then read back with our loader.
Logits are compared at 224x224, the one size where PyTorchVideo's fixed AvgPool3d equals our global pool.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

import slowfast_core
from slowfast_core.errors import CheckpointError, WeightsError
from slowfast_core.weights.api import create_model
from slowfast_core.model.config import PRESETS, get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.weights.checkpoint import load_checkpoint, load_weights
from slowfast_core.weights.checkpoint_file import read_state_dict
from slowfast_core.weights.signature import detect_arch, state_signature
from slowfast_core.weights.labels import kinetics400_labels

from helpers.checkpoints import LOGIT_TOL, randomise_
from helpers.errors import one_line

FAST_FEATURES = get_config("fast_32x2_r50").head_in_features


@pytest.fixture(scope="module")
def hub():
    """PyTorchVideo's model builders, the reference the logit tests compare against: only those tests skip
    without pytorchvideo (the format, error and safety tests below need no reference)."""
    return pytest.importorskip("pytorchvideo.models.hub", reason="pytorchvideo is needed for the reference models")


def run_blocks(model: nn.Module, x: list[torch.Tensor] | torch.Tensor, upto: int = 5) -> object:
    """Run `model.blocks[:upto]` (the backbone of PyTorchVideo nets and ours) on `x` (a list is copied)."""
    out: object = list(x) if isinstance(x, list) else x
    for block in model.blocks[:upto]:
        out = block(out)
    return out


def clip(slow_frames: int, alpha: int, size: int = 224, *, layout: str = "slowfast") -> list[torch.Tensor]:
    """One random clip as the model's input list: [(1, 3, T, S, S), (1, 3, αT, S, S)] (or one pathway)."""
    slow = torch.randn(1, 3, slow_frames, size, size)
    fast = torch.randn(1, 3, slow_frames * alpha, size, size)
    return {"slowfast": [slow, fast], "slow": [slow], "fast": [fast]}[layout]


# ----------------------------------------------------------------------------------- PyTorchVideo reference


@pytest.mark.parametrize(
    ("hub_name", "preset", "slow_frames"),
    [
        ("slowfast_r50", "slowfast_8x8_r50", 8),
        ("slowfast_r101", "slowfast_8x8_r101", 8),
        ("slowfast_16x8_r101_50_50", "slowfast_16x8_r101_50_50", 16),
    ],
)
def test_pytorchvideo_pyth_gives_pytorchvideo_logits(
    tmp_path: Path, hub, hub_name: str, preset: str, slow_frames: int
) -> None:
    ref = getattr(hub, hub_name)(pretrained=False)
    randomise_(ref, lambda: run_blocks(ref, clip(slow_frames // 2, 4, 112)))
    path = tmp_path / f"{hub_name}.pyth"
    torch.save({"model_state": ref.state_dict()}, path)

    model = load_checkpoint(path)  # arch detected

    assert model.config.name == preset
    assert not model.training
    assert model.meta.weights == str(path)
    assert model.meta.categories == tuple(kinetics400_labels())
    x = clip(slow_frames, 4)
    with torch.inference_mode():
        expected = ref(list(x))  # PyTorchVideo overwrites its input list: give each model its own
        got = model(list(x))
    diff = float((got - expected).abs().max())
    print(f"\n{hub_name} (.pyth, PyTorchVideo): max |logit diff| = {diff:.3g} (logit std {float(expected.std()):.3g})")
    assert got.shape == (1, 400)
    assert diff <= LOGIT_TOL
    assert float(expected.std()) > 1.0  # logits are not ~0, so the tolerance is a real check

    # the same file named as another architecture: rejected before building, naming the one that fits
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path, arch="slowfast_4x16_r50")
    assert f"use arch {preset}" in one_line(exc, path)


def test_pytorchvideo_resnet_layout_slow_r50(tmp_path: Path, hub) -> None:
    """PyTorchVideo's single-pathway ResNet (`slow_r50`, keys blocks.N.res_blocks...) maps onto Slow-only."""
    ref = hub.slow_r50(pretrained=False)
    randomise_(ref, lambda: run_blocks(ref, torch.randn(1, 3, 4, 112, 112)))
    path = tmp_path / "slow_r50.pyth"
    torch.save({"model_state": ref.state_dict()}, path)

    state, fmt = read_state_dict(path)
    assert fmt == "pytorchvideo-resnet"
    model = load_checkpoint(path)
    assert model.config.name == "slow_4x16_r50"  # T is not in the weights: slow_r50 is 8x8, same tensors

    # slow_r50's head pools a fixed (8, 7, 7); on a small clip apply its pool-free equivalent by hand
    x = torch.randn(1, 3, 4, 112, 112)
    with torch.inference_mode():
        features = run_blocks(ref, x)  # (1, 2048, 4, 4, 4)
        expected = ref.blocks[5].proj(features.mean(dim=(2, 3, 4)))
        got = model([x])
    diff = float((got - expected).abs().max())
    print(f"\nslow_r50 (.pyth, PyTorchVideo ResNet layout): max |logit diff| = {diff:.3g}")
    assert diff <= LOGIT_TOL
    assert float(expected.std()) > 1.0


# ------------------------------------------------------------------------------------ formats and wrappers


@pytest.fixture(scope="module")
def fast_model() -> SlowFast:
    """A small real model (Fast-only R50, 0.6 M parameters) with random BN statistics."""
    model = SlowFast(get_config("fast_32x2_r50"))
    randomise_(model, lambda: run_blocks(model, [torch.randn(1, 3, 8, 64, 64)]), seed=1)
    return model


@pytest.fixture()
def fast_ckpt(tmp_path: Path, fast_model: SlowFast) -> Path:
    """`fast_model` saved as a PyTorchVideo-style `.pyth`."""
    path = tmp_path / "fast.pyth"
    torch.save({"model_state": fast_model.state_dict()}, path)
    return path


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("wrapper", ["model_state", "state_dict", "model", "plain", "ddp"])
def test_read_state_dict_unwraps(tmp_path: Path, fast_model: SlowFast, wrapper: str) -> None:
    sd = fast_model.state_dict()
    obj: object = {
        "plain": sd,
        "ddp": {f"module.{k}": v for k, v in sd.items()},
    }.get(wrapper, {wrapper: sd, "epoch": 3})
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    state, fmt = read_state_dict(path)
    assert fmt == "pytorchvideo"
    assert_same_state(state, sd)


def test_legacy_torch_format(tmp_path: Path, fast_model: SlowFast) -> None:
    """Files from torch < 1.6 (non-zip serialization) read too."""
    path = tmp_path / "legacy.pyth"
    torch.save({"model_state": fast_model.state_dict()}, path, _use_new_zipfile_serialization=False)
    state, fmt = read_state_dict(path)
    assert fmt == "pytorchvideo"
    assert_same_state(state, fast_model.state_dict())


def test_loaded_model_equals_saved(fast_ckpt: Path, fast_model: SlowFast) -> None:
    model = slowfast_core.load_checkpoint(fast_ckpt)  # the package-level entry point
    assert model.config.name == "fast_32x2_r50"
    assert_same_state(model.state_dict(), fast_model.state_dict())
    x = [torch.randn(1, 3, 16, 112, 112)]
    with torch.inference_mode():
        assert torch.equal(model(x), fast_model.eval()(x))


# --------------------------------------------------------------------------------------- arch detection


@pytest.mark.parametrize("preset", list(PRESETS))
def test_detect_arch_every_preset(preset: str) -> None:
    assert detect_arch(SlowFast(get_config(preset)).state_dict()) == preset


def test_detect_arch_unknown_variant_and_override(tmp_path: Path) -> None:
    """A fusion kernel no preset uses fits nothing; naming the arch with an override loads it."""
    config = get_config("slowfast_8x8_r50", fusion_kernel=3, num_classes=5)
    sd = SlowFast(config).state_dict()
    with pytest.raises(CheckpointError, match="no preset fits .*fusion kernel 3"):
        detect_arch(sd)
    path = tmp_path / "k3.pyth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "fits no known architecture" in one_line(exc, path)
    model = load_weights(str(path), arch="slowfast_8x8_r50", num_classes=5, fusion_kernel=3)
    assert model.config.fusion_kernel == 3
    assert_same_state(model.state_dict(), sd)


def test_signature_reads_temporal_kernels() -> None:
    sig = state_signature(SlowFast(get_config("slowfast_16x8_r101_50_50")).state_dict())
    slow, fast = sig.pathways
    assert slow.depth == 101 and sig.fusion_kernel == 5
    assert slow.temporal_kernels[2] == (3,) * 6 + (1,) * 17  # res4: temporal conv_a in the first 6 blocks only
    assert slow.temporal_kernels[0] == (1, 1, 1) and fast.temporal_kernels[0] == (3, 3, 3)
    assert (slow.stem_temporal_kernel, fast.stem_temporal_kernel) == (1, 5)


# ---------------------------------------------------------------------------------------- heads and meta


def test_other_num_classes_keeps_backbone_fresh_head(
    fast_ckpt: Path, fast_model: SlowFast, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="slowfast_core.weights.checkpoint"):
        model = load_checkpoint(fast_ckpt, num_classes=10)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "400-class head" in warnings[0].getMessage() and "fresh" in warnings[0].getMessage()
    assert model.blocks[6].proj.weight.shape == (10, FAST_FEATURES)
    ours, theirs = model.state_dict(), fast_model.state_dict()
    backbone = [k for k in theirs if not k.startswith("blocks.6.")]
    assert all(torch.equal(ours[k], theirs[k]) for k in backbone)
    assert model.meta.categories == tuple(f"class {i}" for i in range(10))
    assert model.config.num_classes == 10


def test_same_num_classes_no_warning(fast_ckpt: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="slowfast_core.weights.checkpoint"):
        model = load_checkpoint(fast_ckpt, num_classes=400)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert model.meta.categories[:2] == ("abseiling", "air drumming")
    assert model.meta.trained


def test_small_head_gets_placeholder_names(tmp_path: Path) -> None:
    sd = SlowFast(get_config("fast_32x2_r50", num_classes=7)).state_dict()
    path = tmp_path / "seven.pyth"
    torch.save({"model_state": sd}, path)
    model = load_checkpoint(path)
    assert model.config.num_classes == 7
    assert model.meta.categories == tuple(f"class {i}" for i in range(7))


# ----------------------------------------------------------------------------------------- load_weights


def test_load_weights_path_and_create_model(fast_ckpt: Path, fast_model: SlowFast) -> None:
    model = create_model("fast_32x2_r50", weights=str(fast_ckpt))
    assert_same_state(model.state_dict(), fast_model.state_dict())
    assert model.meta.weights == str(fast_ckpt)
    with pytest.raises(CheckpointError) as exc:
        create_model("slow_4x16_r50", weights=str(fast_ckpt))
    assert "it holds fast_32x2_r50 weights" in one_line(exc, fast_ckpt)


def test_a_checkpoint_is_built_with_its_meta_at_another_input_size(fast_ckpt: Path, fast_model: SlowFast) -> None:
    model = create_model("fast_32x2_r50", weights=str(fast_ckpt), input_size=96)
    assert model.meta.preprocessing == replace(fast_model.meta.preprocessing, short_side=96)
    assert model.meta.weights == str(fast_ckpt) and len(model.meta.categories) == model.config.num_classes
    with pytest.raises(AttributeError):
        model.meta = fast_model.meta


def test_load_weights_unknown_name_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="unknown weights"):
        load_weights("NO_SUCH_WEIGHTS")
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(str(tmp_path / "missing" / "x.pyth"))


# ------------------------------------------------------------------------------------------------ errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pyth"
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "not found" in one_line(exc, path)


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(tmp_path)
    assert "is not a file" in one_line(exc, tmp_path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.pyth", "this is a text file, not weights\n" * 20),
        ("random.pyth", bytes([7]) + torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(3),
                                                   dtype=torch.uint8).numpy().tobytes()),
        ("empty.pkl", b""),
    ],
)
def test_not_a_checkpoint(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "is not a checkpoint" in one_line(exc, path)


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_truncated_pyth(tmp_path: Path, fast_model: SlowFast, zipped: bool) -> None:
    full = tmp_path / "full.pyth"
    torch.save({"model_state": fast_model.state_dict()}, full, _use_new_zipfile_serialization=zipped)
    data = full.read_bytes()
    path = tmp_path / "half.pyth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "truncated" in one_line(exc, path)


def test_whole_pickled_module_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "module.pth"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "torch.save(model.state_dict(), path)" in one_line(exc, path)


class _Evil:
    """Unpickling this would create a file: a .pkl loader that runs code from the file is a hole."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_pickle_with_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": _Evil(marker)}}, protocol=2))
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "not unpickled for safety" in one_line(exc, path)
    assert not marker.exists()


def test_unknown_key_layout(tmp_path: Path) -> None:
    path = tmp_path / "r3d.pth"
    torch.save({"stem.0.weight": torch.zeros(64, 3, 3, 7, 7), "fc.weight": torch.zeros(400, 512)}, path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "unknown layout (first: 'stem.0.weight')" in one_line(exc, path)


def test_torch_file_without_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "holds a list, not a state dict" in one_line(exc, path)


def test_head_only_has_no_backbone(tmp_path: Path) -> None:
    path = tmp_path / "head.pth"
    torch.save({"blocks.0.multipathway_fusion.conv_fast_to_slow.weight": torch.zeros(16, 8, 7, 1, 1),
                "blocks.6.proj.weight": torch.zeros(400, 2304)}, path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "no complete SlowFast/ResNet backbone" in one_line(exc, path)


def test_wrong_arch_names_the_fitting_preset(fast_ckpt: Path) -> None:
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(fast_ckpt, arch="slow_4x16_r50")
    msg = one_line(exc, fast_ckpt)
    assert "does not fit architecture slow_4x16_r50" in msg and "use arch fast_32x2_r50" in msg


@pytest.mark.parametrize("problem", ["missing", "unexpected", "shape"])
def test_missing_unexpected_and_misshapen_keys(tmp_path: Path, fast_model: SlowFast, problem: str) -> None:
    sd = dict(fast_model.state_dict())
    key = "blocks.4.multipathway_blocks.0.res_blocks.2.branch2.norm_c.running_var"
    if problem == "missing":
        del sd[key]
    elif problem == "unexpected":
        sd["blocks.4.multipathway_blocks.0.extra.weight"] = torch.zeros(3)
        key = "blocks.4.multipathway_blocks.0.extra.weight"
    else:
        sd[key] = torch.ones(7)
    path = tmp_path / f"{problem}.pyth"
    torch.save({"model_state": sd}, path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    msg = one_line(exc, path)
    assert {"missing": "missing keys", "unexpected": "unexpected keys", "shape": "shape mismatch"}[problem] in msg
    assert key in msg and "does not fit fast_32x2_r50" in msg
