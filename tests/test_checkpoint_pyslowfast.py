"""PySlowFast checkpoints: its PyTorch `.pyth` and its Caffe2 `.pkl`, checked against PySlowFast's own model.

The reference is PySlowFast's `SlowFastModel` / `ResNetModel`, built from `slowfast.config.defaults.get_cfg()`
with the settings of its SLOWFAST_8x8_R50 / SLOWFAST_4x16_R50 / SLOW_8x8_R50 configs. The 2020 package
imports `detectron2.layers.ROIAlign` for its detection head (unused here); torchvision's RoIAlign stands in.
Caffe2 files are made from the reference's weights under Caffe2 blob names, and PySlowFast's own converter
(`slowfast/utils/c2_model_loading.py`) must map those names back onto its model's keys before our loader is
compared with it.
"""

from __future__ import annotations

import copy
import pickle
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from slowfast_core.errors import CheckpointError
from slowfast_core.weights.api import create_model
from slowfast_core.weights.checkpoint import load_checkpoint, load_weights
from slowfast_core.weights.checkpoint_file import read_state_dict
from slowfast_core.weights.convert_pyslowfast import caffe2_to_pyslowfast_key, is_caffe2_optimizer_blob
from slowfast_core.weights.labels import kinetics400_labels

from helpers.checkpoints import LOGIT_TOL, randomise_
from helpers.errors import one_line


def _import_pyslowfast() -> types.SimpleNamespace:
    """PySlowFast's config, model classes and Caffe2 helpers (with a detectron2 stand-in for ROIAlign)."""
    pytest.importorskip("slowfast.config.defaults", reason="PySlowFast (package `slowfast`) is not installed")
    if "detectron2.layers" not in sys.modules:
        try:
            import detectron2.layers  # noqa: F401
        except ImportError:
            layers = types.ModuleType("detectron2.layers")
            layers.ROIAlign = torchvision.ops.RoIAlign  # type: ignore[attr-defined]
            package = types.ModuleType("detectron2")
            package.layers = layers  # type: ignore[attr-defined]
            sys.modules.update({"detectron2": package, "detectron2.layers": layers})
    from slowfast.config.defaults import get_cfg
    from slowfast.models.video_model_builder import ResNetModel, SlowFastModel
    from slowfast.utils.c2_model_loading import get_name_convert_func
    from slowfast.utils.checkpoint import load_checkpoint as psf_load_checkpoint

    return types.SimpleNamespace(get_cfg=get_cfg, SlowFastModel=SlowFastModel, ResNetModel=ResNetModel,
                                 convert=get_name_convert_func(), load_checkpoint=psf_load_checkpoint)


@pytest.fixture(scope="module")
def psf() -> types.SimpleNamespace:
    return _import_pyslowfast()


def slowfast_cfg(psf: types.SimpleNamespace, *, alpha: int, fusion_kernel: int, num_frames: int) -> Any:
    """PySlowFast's SLOWFAST_{8x8,4x16}_R50 model settings (its configs/Kinetics/*.yaml), for 224 crops."""
    cfg = psf.get_cfg()
    cfg.MODEL.ARCH = "slowfast"
    cfg.MODEL.NUM_CLASSES = 400
    cfg.RESNET.DEPTH = 50
    cfg.RESNET.ZERO_INIT_FINAL_BN = True
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3, 3], [4, 4], [6, 6], [3, 3]]
    cfg.RESNET.SPATIAL_STRIDES = [[1, 1], [2, 2], [2, 2], [2, 2]]
    cfg.RESNET.SPATIAL_DILATIONS = [[1, 1], [1, 1], [1, 1], [1, 1]]
    cfg.NONLOCAL.LOCATION = [[[], []], [[], []], [[], []], [[], []]]
    cfg.NONLOCAL.GROUP = [[1, 1], [1, 1], [1, 1], [1, 1]]
    cfg.NONLOCAL.POOL = [[[1, 2, 2], [1, 2, 2]]] * 4
    cfg.SLOWFAST.ALPHA = alpha
    cfg.SLOWFAST.BETA_INV = 8
    cfg.SLOWFAST.FUSION_CONV_CHANNEL_RATIO = 2
    cfg.SLOWFAST.FUSION_KERNEL_SZ = fusion_kernel
    cfg.DATA.NUM_FRAMES = num_frames  # Fast pathway frames; Slow gets num_frames / alpha
    cfg.DATA.CROP_SIZE = 224
    cfg.DATA.INPUT_CHANNEL_NUM = [3, 3]
    return cfg


def run_psf_backbone(model: nn.Module, x: list[torch.Tensor]) -> None:
    """One pass through PySlowFast's model without its head (its fixed AvgPool3d wants 224 inputs)."""
    head = model.head
    model.head = nn.Identity()
    try:
        model(list(x))
    finally:
        model.head = head


def psf_logits(model: nn.Module, x: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """PySlowFast's eval output (softmax, averaged) and its logits (head.projection's output), both (B, K)."""
    captured: list[torch.Tensor] = []
    hook = model.head.projection.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        probs = model(list(x))  # PySlowFast overwrites entries of its input list
    finally:
        hook.remove()
    return probs, captured[0].reshape(probs.shape[0], -1)  # (B, 1, 1, 1, K) -> (B, K)


def compare(model: nn.Module, reference: nn.Module, x: list[torch.Tensor], label: str) -> float:
    """Max |logit difference| of our `model` and PySlowFast's `reference` on clip `x` (also checks softmax)."""
    with torch.inference_mode():
        probs, expected = psf_logits(reference, x)
        got = model(list(x))
    diff = float((got - expected).abs().max())
    print(f"\n{label}: max |logit diff| = {diff:.3g} (logit std {float(expected.std()):.3g})")
    assert got.shape == expected.shape
    assert float(expected.std()) > 1.0
    assert diff <= LOGIT_TOL
    assert torch.allclose(got.softmax(dim=1), probs, atol=1e-6)
    return diff


# ------------------------------------------------------------------------------------------ .pyth (PyTorch)


def test_pyslowfast_pyth_8x8_r50(tmp_path: Path, psf: types.SimpleNamespace) -> None:
    cfg = slowfast_cfg(psf, alpha=4, fusion_kernel=7, num_frames=32)
    ref = psf.SlowFastModel(cfg)
    randomise_(ref, lambda: run_psf_backbone(ref, [torch.randn(1, 3, 4, 112, 112), torch.randn(1, 3, 16, 112, 112)]))
    # what PySlowFast's save_checkpoint writes
    optimizer = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"epoch": 196, "model_state": ref.state_dict(), "optimizer_state": optimizer.state_dict(),
                "cfg": cfg.dump()}, path)

    _, fmt = read_state_dict(path)
    assert fmt == "pyslowfast"
    model = load_checkpoint(path)
    assert model.config.name == "slowfast_8x8_r50"
    compare(model, ref, [torch.randn(1, 3, 8, 224, 224), torch.randn(1, 3, 32, 224, 224)],
            "PySlowFast SLOWFAST_8x8_R50 (.pyth)")


def test_pyslowfast_pyth_slow_only(tmp_path: Path, psf: types.SimpleNamespace) -> None:
    """PySlowFast's Slow-only ResNet (SLOW_8x8_R50 settings) maps onto our slow_4x16_r50 (same tensors)."""
    cfg = psf.get_cfg()
    cfg.MODEL.ARCH = "slowonly"
    cfg.RESNET.ZERO_INIT_FINAL_BN = True
    cfg.DATA.NUM_FRAMES = 8
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    ref = psf.ResNetModel(cfg)
    randomise_(ref, lambda: run_psf_backbone(ref, [torch.randn(1, 3, 4, 112, 112)]))
    path = tmp_path / "SLOW_8x8_R50.pyth"
    torch.save({"model_state": ref.state_dict()}, path)

    model = load_checkpoint(path)
    assert model.config.name == "slow_4x16_r50"
    assert read_state_dict(path)[1] == "pyslowfast"
    # a small clip, with PySlowFast's fixed-size head pool replaced by the global mean it equals at 224
    x = [torch.randn(1, 3, 4, 112, 112)]
    with torch.inference_mode():
        head, ref.head = ref.head, nn.Identity()
        features = ref(list(x))[0]  # (1, 2048, 4, 4, 4)
        ref.head = head
        expected = ref.head.projection(features.mean(dim=(2, 3, 4)))
        got = model(list(x))
    diff = float((got - expected).abs().max())
    print(f"\nPySlowFast SLOW_8x8_R50 (.pyth): max |logit diff| = {diff:.3g} (logit std {float(expected.std()):.3g})")
    assert float(expected.std()) > 1.0
    assert diff <= LOGIT_TOL


# -------------------------------------------------------------------------------------------- .pkl (Caffe2)

_C2_SUFFIX = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}


def pyslowfast_to_caffe2(key: str, last_block: dict[int, int]) -> str:
    """The Caffe2 blob name of PySlowFast's `key` (the inverse of its converter; the test checks that).

    `last_block[S]` is the index of stage S's last block: Caffe2 names a fusion after the block it follows.
    """
    psf_prefix = {0: "", 1: "t_"}
    if m := re.fullmatch(r"s1\.pathway(\d)_stem\.conv\.weight", key):
        return f"{psf_prefix[int(m[1])]}conv1_w"
    if m := re.fullmatch(r"s1\.pathway(\d)_stem\.bn\.(\w+)", key):
        return f"{psf_prefix[int(m[1])]}res_conv1_bn_{_C2_SUFFIX[m[2]]}"
    if m := re.fullmatch(r"s(\d)\.pathway(\d)_res(\d+)\.branch1\.weight", key):
        return f"{psf_prefix[int(m[2])]}res{m[1]}_{m[3]}_branch1_w"
    if m := re.fullmatch(r"s(\d)\.pathway(\d)_res(\d+)\.branch1_bn\.(\w+)", key):
        return f"{psf_prefix[int(m[2])]}res{m[1]}_{m[3]}_branch1_bn_{_C2_SUFFIX[m[4]]}"
    if m := re.fullmatch(r"s(\d)\.pathway(\d)_res(\d+)\.branch2\.([abc])\.weight", key):
        return f"{psf_prefix[int(m[2])]}res{m[1]}_{m[3]}_branch2{m[4]}_w"
    if m := re.fullmatch(r"s(\d)\.pathway(\d)_res(\d+)\.branch2\.([abc])_bn\.(\w+)", key):
        return f"{psf_prefix[int(m[2])]}res{m[1]}_{m[3]}_branch2{m[4]}_bn_{_C2_SUFFIX[m[5]]}"
    if m := re.fullmatch(r"s(\d)_fuse\.(conv_f2s|bn)\.(\w+)", key):
        base = "t_pool1_subsample" if m[1] == "1" else f"t_res{m[1]}_{last_block[int(m[1])]}_branch2c_bn_subsample"
        return f"{base}_w" if m[2] == "conv_f2s" else f"{base}_bn_{_C2_SUFFIX[m[3]]}"
    if m := re.fullmatch(r"head\.projection\.(weight|bias)", key):
        return "pred_w" if m[1] == "weight" else "pred_b"
    raise AssertionError(f"no Caffe2 name for {key}")


def caffe2_blobs(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """PySlowFast `state` as Caffe2 blobs, with the optimiser blobs a real Caffe2 checkpoint carries."""
    last_block: dict[int, int] = {}
    for key in state:
        if m := re.match(r"s(\d)\.pathway1_res(\d+)\.", key):
            last_block[int(m[1])] = max(last_block.get(int(m[1]), 0), int(m[2]))
    blobs: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue  # Caffe2 has no such counter
        name = pyslowfast_to_caffe2(key, last_block)
        blobs[name] = value.detach().numpy().copy()
        if not name.endswith(("_rm", "_riv")):  # learnable: Caffe2 keeps its SGD momentum beside it
            blobs[f"{name}_momentum"] = np.zeros_like(blobs[name])
    blobs["lr"] = np.array([0.1], dtype=np.float32)
    blobs["model_iter"] = np.array([196000], dtype=np.int64)
    return blobs


@pytest.fixture(scope="module")
def c2_reference(psf: types.SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    """PySlowFast's SlowFast 4x16 R50 with random weights, and a Caffe2 `.pkl` of them (Python 2 pickle protocol)."""
    cfg = slowfast_cfg(psf, alpha=8, fusion_kernel=5, num_frames=32)
    ref = psf.SlowFastModel(cfg)
    randomise_(ref, lambda: run_psf_backbone(ref, [torch.randn(1, 3, 2, 112, 112), torch.randn(1, 3, 16, 112, 112)]),
               seed=4)
    path = tmp_path_factory.mktemp("c2") / "SLOWFAST_4x16_R50.pkl"
    with path.open("wb") as f:
        pickle.dump({"blobs": caffe2_blobs(ref.state_dict())}, f, protocol=2)
    return ref, path


@pytest.fixture(scope="module")
def c2_blobs(c2_reference: tuple[nn.Module, Path]) -> dict[str, np.ndarray]:
    """The blobs of the reference's Caffe2 file, read back with plain pickle (as PySlowFast does)."""
    with c2_reference[1].open("rb") as f:
        return pickle.load(f, encoding="latin1")["blobs"]


def test_caffe2_names_are_pyslowfast_names(
    c2_reference: tuple[nn.Module, Path], c2_blobs: dict[str, np.ndarray], psf: types.SimpleNamespace
) -> None:
    """PySlowFast's converter maps our Caffe2 names onto its model's keys, and so does ours (name for name)."""
    ref, blobs = c2_reference[0], c2_blobs
    ref_state = ref.state_dict()
    converted = {}
    for name, value in blobs.items():
        if is_caffe2_optimizer_blob(name):
            assert psf.convert(name) not in ref_state  # PySlowFast skips these too
            continue
        theirs = psf.convert(name)
        assert caffe2_to_pyslowfast_key(name) == theirs, name
        assert ref_state[theirs].shape == value.shape, name
        converted[theirs] = value
    weights = {k for k in ref_state if not k.endswith("num_batches_tracked")}
    assert converted.keys() == weights  # every tensor of PySlowFast's model, none twice
    assert {n for n in blobs if n.startswith("t_res") and "subsample" in n} >= {
        "t_res2_2_branch2c_bn_subsample_w", "t_res3_3_branch2c_bn_subsample_bn_riv", "t_res4_5_branch2c_bn_subsample_w"}


def test_caffe2_file_loads_in_pyslowfast(c2_reference: tuple[nn.Module, Path], psf: types.SimpleNamespace) -> None:
    """The file is a valid Caffe2 checkpoint by PySlowFast's own loader: it rebuilds the reference exactly."""
    ref, path = c2_reference
    fresh = copy.deepcopy(ref)  # same architecture as a freshly built one, without its slow initialisation
    with torch.no_grad():
        for tensor in fresh.state_dict().values():
            tensor.zero_()
    psf.load_checkpoint(str(path), fresh, data_parallel=False, convert_from_caffe2=True)
    ref_state = ref.state_dict()
    for key, value in fresh.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, ref_state[key]), key


def test_caffe2_pkl_4x16_r50(c2_reference: tuple[nn.Module, Path]) -> None:
    ref, path = c2_reference
    state, fmt = read_state_dict(path)
    assert fmt == "caffe2"
    assert not any("momentum" in k for k in state)
    model = load_checkpoint(path)
    assert model.config.name == "slowfast_4x16_r50"
    assert model.meta.categories == tuple(kinetics400_labels())
    compare(model, ref, [torch.randn(1, 3, 4, 224, 224), torch.randn(1, 3, 32, 224, 224)],
            "PySlowFast SLOWFAST_4x16_R50 (Caffe2 .pkl)")


@pytest.fixture(scope="module")
def few_blobs(c2_blobs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A handful of the reference's Caffe2 blobs (Slow and Fast stems, a fusion, the classifier)."""
    blobs = c2_blobs
    names = ("conv1_w", "t_res_conv1_bn_riv", "t_pool1_subsample_w", "pred_w", "pred_b", "model_iter")
    return {n: blobs[n] for n in names}


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_caffe2_pickle_protocols(tmp_path: Path, few_blobs: dict[str, np.ndarray], protocol: int) -> None:
    """Python 2's protocols and Python 3's newest (numpy's newer reduce functions) all read the same arrays."""
    path = tmp_path / f"p{protocol}.pkl"
    path.write_bytes(pickle.dumps({"blobs": few_blobs}, protocol=protocol))
    state, fmt = read_state_dict(path)
    assert fmt == "caffe2"
    expected = {
        "blocks.0.multipathway_blocks.0.conv.weight": "conv1_w",
        "blocks.0.multipathway_blocks.1.norm.running_var": "t_res_conv1_bn_riv",
        "blocks.0.multipathway_fusion.conv_fast_to_slow.weight": "t_pool1_subsample_w",
        "blocks.6.proj.weight": "pred_w",
        "blocks.6.proj.bias": "pred_b",
    }
    assert set(state) == set(expected)  # model_iter (optimiser state) dropped
    for ours, c2 in expected.items():
        assert np.array_equal(state[ours].numpy(), few_blobs[c2])


def test_truncated_caffe2_pkl(tmp_path: Path, few_blobs: dict[str, np.ndarray]) -> None:
    data = pickle.dumps({"blobs": few_blobs}, protocol=2)
    path = tmp_path / "half.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert "truncated" in one_line(exc, path)


def test_registry_name_uses_cached_caffe2_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, c2_reference: tuple[nn.Module, Path]
) -> None:
    """A registry name resolves to the file in torch's hub cache (no download when it is there)."""
    path = c2_reference[1]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "SLOWFAST_4x16_R50.pkl").write_bytes(path.read_bytes())

    model = load_weights("PYSLOWFAST_SLOWFAST_4x16_R50")
    assert model.config.name == "slowfast_4x16_r50"
    assert model.meta.weights == "PYSLOWFAST_SLOWFAST_4x16_R50"
    assert model.meta.categories == tuple(kinetics400_labels())
    with pytest.raises(CheckpointError, match="are for slowfast_4x16_r50, not slowfast_8x8_r50"):
        create_model("slowfast_8x8_r50", weights="PYSLOWFAST_SLOWFAST_4x16_R50")
