"""mmaction2 checkpoints: key layout, arch detection, strict loading, and logits against mmaction2's forward.

mmaction2 itself does not install here (it needs mmcv/mmengine builds), so the reference is built from its
published source (`mmaction/models/backbones/resnet3d_slowfast.py`, `resnet3d.py`, `heads/slowfast_head.py`):
- `mmaction2_layout` lists every key and shape a `Recognizer3D` with `ResNet3dSlowFast` holds, computed the
  way its constructors compute channels (lateral_inplanes = inplanes * 2 // channel_ratio, inflate (0, 0, 1, 1)
  on the Slow pathway, downsample only in each stage's first block, laterals as bare ConvModules);
- `mmaction2_forward` runs that state dict as `ResNet3dSlowFast.forward` + `SlowFastHead.forward` do:
  nearest-neighbour temporal resampling of one 32-frame clip, ConvModule = conv -> BN -> ReLU, laterals
  concatenated after the stem and after layer1..3, global average pools concatenated Fast first.
Our model's random weights are written in mmaction2's layout (the inverse mapping), must match that layout
key for key and shape for shape, load strictly through `load_checkpoint`, and give the reference's logits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from slowfast_core.errors import CheckpointError
from slowfast_core.weights.api import create_model
from slowfast_core.model.config import get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.weights.checkpoint import load_checkpoint, load_weights
from slowfast_core.weights.checkpoint_file import read_state_dict
from slowfast_core.weights.signature import detect_arch
from slowfast_core.weights.convert_mmaction2 import (
    MMACTION2_PREPROCESSING,
    mmaction2_to_ours,
    ours_to_mmaction2,
)
from slowfast_core.weights.labels import kinetics400_labels
from slowfast_core.weights.registry import get_weights

from helpers.checkpoints import LOGIT_TOL, randomise_
from helpers.errors import one_line
from test_checkpoint import run_blocks

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
FAST_CHANNELS = 256  # 2048 // channel_ratio 8: the pooled Fast features, first in mmaction2's classifier


def mmaction2_layout(*, depth: int, fusion_kernel: int, num_classes: int = 400) -> dict[str, tuple[int, ...]]:
    """Every key of mmaction2's SlowFast recognizer with its shape (see the module doc)."""
    out: dict[str, tuple[int, ...]] = {}

    def conv_module(name: str, shape: tuple[int, ...], *, bn: bool = True) -> None:
        out[f"{name}.conv.weight"] = shape
        if bn:
            c = shape[0]
            out.update({f"{name}.bn.{k}": (() if k == "num_batches_tracked" else (c,)) for k in BN_KEYS})

    for path, base, stem_kt, inflate, lateral in (("slow", 64, 1, (0, 0, 1, 1), True),
                                                   ("fast", 8, 5, (1, 1, 1, 1), False)):
        prefix = f"backbone.{path}_path"
        conv_module(f"{prefix}.conv1", (base, 3, stem_kt, 7, 7))
        if lateral:  # ResNet3dPathway.__init__: self.inplanes = base_channels before the laterals
            conv_module(f"{prefix}.conv1_lateral", (base * 2 // 8, base // 8, fusion_kernel, 1, 1), bn=False)
        inplanes = base
        for i, blocks in enumerate(STAGE_BLOCKS[depth]):
            planes = base * 2**i
            lateral_inplanes = inplanes * 2 // 8 if lateral else 0
            kt = 3 if inflate[i] else 1
            for b in range(blocks):
                block_in = inplanes + lateral_inplanes if b == 0 else planes * 4
                name = f"{prefix}.layer{i + 1}.{b}"
                conv_module(f"{name}.conv1", (planes, block_in, kt, 1, 1))
                conv_module(f"{name}.conv2", (planes, planes, 1, 3, 3))
                conv_module(f"{name}.conv3", (planes * 4, planes, 1, 1, 1))
                if b == 0:  # spatial stride or a width change: every first block has one
                    conv_module(f"{name}.downsample", (planes * 4, block_in, 1, 1, 1))
            inplanes = planes * 4
            if lateral and i < 3:
                conv_module(f"{prefix}.layer{i + 1}_lateral", (inplanes * 2 // 8, inplanes // 8, fusion_kernel, 1, 1),
                            bn=False)
    out["cls_head.fc_cls.weight"] = (num_classes, 2048 + FAST_CHANNELS)
    out["cls_head.fc_cls.bias"] = (num_classes,)
    return out


def _conv_module(sd: dict[str, torch.Tensor], name: str, x: torch.Tensor, *, stride: tuple[int, int, int] = (1, 1, 1),
                 bn: bool = True, relu: bool = True) -> torch.Tensor:
    """mmcv's ConvModule: conv (padding (k-1)//2 per dim) -> BN (eval) -> ReLU."""
    w = sd[f"{name}.conv.weight"]  # (C_out, C_in, kt, kh, kw)
    x = F.conv3d(x, w, stride=stride, padding=tuple((k - 1) // 2 for k in w.shape[2:]))
    if bn:
        x = F.batch_norm(x, sd[f"{name}.bn.running_mean"], sd[f"{name}.bn.running_var"], sd[f"{name}.bn.weight"],
                         sd[f"{name}.bn.bias"], training=False, eps=1e-5)
    return F.relu(x) if relu else x


def _pathway_stem(sd: dict[str, torch.Tensor], path: str, x: torch.Tensor) -> torch.Tensor:
    x = _conv_module(sd, f"backbone.{path}_path.conv1", x, stride=(1, 2, 2))
    return F.max_pool3d(x, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))


def _res_layer(sd: dict[str, torch.Tensor], path: str, stage: int, x: torch.Tensor) -> torch.Tensor:
    """Bottleneck3d blocks (style 'pytorch': the spatial stride sits in conv2)."""
    prefix = f"backbone.{path}_path.layer{stage}"
    b = 0
    while f"{prefix}.{b}.conv1.conv.weight" in sd:
        s = 1 if stage == 1 or b > 0 else 2
        identity = x
        if f"{prefix}.{b}.downsample.conv.weight" in sd:
            identity = _conv_module(sd, f"{prefix}.{b}.downsample", x, stride=(1, s, s), relu=False)
        out = _conv_module(sd, f"{prefix}.{b}.conv1", x)
        out = _conv_module(sd, f"{prefix}.{b}.conv2", out, stride=(1, s, s))
        out = _conv_module(sd, f"{prefix}.{b}.conv3", out, relu=False)
        x = F.relu(out + identity)
        b += 1
    return x


def mmaction2_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, *, resample_rate: int, speed_ratio: int) -> torch.Tensor:
    """ResNet3dSlowFast.forward + SlowFastHead.forward on one clip x (1, 3, 32, H, W) -> logits (1, classes)."""
    x_slow = F.interpolate(x, mode="nearest", scale_factor=(1.0 / resample_rate, 1.0, 1.0))
    x_fast = F.interpolate(x, mode="nearest", scale_factor=(1.0 / (resample_rate // speed_ratio), 1.0, 1.0))
    x_slow, x_fast = _pathway_stem(sd, "slow", x_slow), _pathway_stem(sd, "fast", x_fast)
    lateral = _conv_module(sd, "backbone.slow_path.conv1_lateral", x_fast, stride=(speed_ratio, 1, 1), bn=False,
                           relu=False)
    x_slow = torch.cat((x_slow, lateral), dim=1)
    for stage in range(1, 5):
        x_slow, x_fast = _res_layer(sd, "slow", stage, x_slow), _res_layer(sd, "fast", stage, x_fast)
        if stage < 4:
            lateral = _conv_module(sd, f"backbone.slow_path.layer{stage}_lateral", x_fast, stride=(speed_ratio, 1, 1),
                                   bn=False, relu=False)
            x_slow = torch.cat((x_slow, lateral), dim=1)
    pooled = torch.cat((x_fast.mean(dim=(2, 3, 4)), x_slow.mean(dim=(2, 3, 4))), dim=1)  # Fast first
    return F.linear(pooled, sd["cls_head.fc_cls.weight"], sd["cls_head.fc_cls.bias"])


def save_mmaction2(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """A checkpoint file as mmaction2 publishes them: meta plus the recognizer's state dict."""
    torch.save({"meta": {"mmaction2_version": "1.0.0", "epoch": 256, "experiment_name": path.stem},
                "state_dict": state}, path)
    return path


# ------------------------------------------------------------------------------------------- the layout


@pytest.mark.parametrize(("arch", "depth", "kernel"), [
    ("slowfast_4x16_r50_mmaction2", 50, 5), ("slowfast_8x8_r50_mmaction2", 50, 7),
    ("slowfast_8x8_r101_mmaction2", 101, 7),
])
def test_inverse_mapping_gives_mmaction2s_exact_layout(arch: str, depth: int, kernel: int) -> None:
    with torch.device("meta"):  # shapes only: R101 is big
        ours = SlowFast(get_config(arch)).state_dict()
    mm = ours_to_mmaction2(ours, fast_channels=FAST_CHANNELS)
    expected = mmaction2_layout(depth=depth, fusion_kernel=kernel)
    assert sorted(mm) == sorted(expected)
    assert {k: tuple(v.shape) for k, v in mm.items()} == expected
    back = mmaction2_to_ours(mm)
    assert sorted(back) == sorted(ours) and all(back[k].shape == ours[k].shape for k in ours)
    assert detect_arch(back) == arch  # from the keys' shapes: depth, fusion kernel, no lateral BN


@pytest.mark.parametrize(("arch", "params"), [
    ("slowfast_4x16_r50_mmaction2", 34479288), ("slowfast_8x8_r50_mmaction2", 34565560),
    ("slowfast_8x8_r101_mmaction2", 62912312),
])
def test_parameter_counts_equal_mmaction2s_metafile(arch: str, params: int) -> None:
    """configs/recognition/slowfast/metafile.yml lists each model's exact parameter count."""
    with torch.device("meta"):
        model = SlowFast(get_config(arch))
    assert sum(p.numel() for p in model.parameters()) == params


def test_mmaction2_archs_differ_from_the_pyslowfast_ones() -> None:
    """The same depth and kernel with BN in the laterals is another architecture (and another preset)."""
    mm = get_config("slowfast_8x8_r50_mmaction2")
    assert (mm.fusion_kernel, mm.fusion_norm, get_config("slowfast_8x8_r50").fusion_norm) == (7, False, True)
    ours = SlowFast(get_config("slowfast_8x8_r50")).state_dict()
    with pytest.raises(ValueError, match="multipathway_fusion.norm"):
        ours_to_mmaction2(ours, fast_channels=FAST_CHANNELS)


# ----------------------------------------------------------------------------------- logits and loading


@pytest.mark.parametrize(("arch", "resample_rate", "speed_ratio"), [
    ("slowfast_4x16_r50_mmaction2", 8, 8), ("slowfast_8x8_r50_mmaction2", 4, 4),
])
def test_mmaction2_checkpoint_gives_mmaction2s_logits(tmp_path: Path, arch: str, resample_rate: int,
                                                      speed_ratio: int) -> None:
    torch.manual_seed(1)
    x = torch.randn(1, 3, 32, 112, 112)  # mmaction2's clip: 32 frames (SampleFrames clip_len=32, interval 2)
    slow, fast = x[:, :, ::resample_rate], x  # what its nearest-neighbour resampling picks
    model = create_model(arch)
    randomise_(model, lambda: run_blocks(model, [slow, fast]))
    mm = ours_to_mmaction2(model.state_dict(), fast_channels=FAST_CHANNELS)
    path = save_mmaction2(tmp_path / f"{arch}.pth", mm)

    state, fmt = read_state_dict(path)
    assert fmt == "mmaction2"
    loaded = load_checkpoint(path)  # arch detected from the keys, loaded strictly
    assert loaded.config.name == arch
    assert loaded.meta.preprocessing == MMACTION2_PREPROCESSING and loaded.meta.trained
    assert list(loaded.meta.categories) == kinetics400_labels()
    with torch.inference_mode():
        ours = loaded([slow, fast])
        reference = mmaction2_forward(mm, x, resample_rate=resample_rate, speed_ratio=speed_ratio)
    assert ours.shape == reference.shape == (1, 400)
    assert float(reference.abs().max()) > 1.0  # logits of a size where the tolerance means something
    torch.testing.assert_close(ours, reference, atol=LOGIT_TOL, rtol=0)
    # the classifier's columns are reordered, not just renamed: a plain rename gives other logits
    swapped = dict(state)
    swapped["blocks.6.proj.weight"] = mm["cls_head.fc_cls.weight"]
    loaded.load_state_dict(swapped)
    with torch.inference_mode():
        assert (loaded([slow, fast]) - reference).abs().max() > 1e-2


def layout_state_dict(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for every key of `layout` (mmaction2's own names and shapes), made without our mapping:
    convs ~ N(0, 2/fan_in), BN scales in [0.1, 0.4] so that activations stay of order one through the
    residual stages (the logits are then a few units: the tolerance means something), running variances
    positive."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(256, dtype=torch.long)
        elif key.endswith("bn.weight"):
            out[key] = 0.1 + 0.3 * torch.rand(shape, generator=g)
        elif key.endswith("bn.running_var"):
            out[key] = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith(("bn.bias", "bn.running_mean")):
            out[key] = 0.1 * torch.randn(shape, generator=g)
        elif key.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3] * shape[4]
            out[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:  # the classifier
            out[key] = torch.randn(shape, generator=g) * (0.5 if key.endswith("weight") else 0.1)
    return out


def test_a_state_dict_in_mmaction2s_own_layout_loads_and_gives_its_logits(tmp_path: Path) -> None:
    """Not through our inverse mapping: a state dict keyed and shaped as mmaction2's ResNet3dSlowFast +
    SlowFastHead build it (configs/recognition/slowfast/slowfast_r50_8xb8-4x16x1-256e: depth 50,
    resample_rate 8, speed_ratio 8, channel_ratio 8, fusion_kernel 5, inflate (0, 0, 1, 1) on Slow, Fast
    base_channels 8 and conv1_kernel (5, 7, 7); head in_channels 2304), saved as mmaction2 saves it, loads
    strictly and gives the reference forward's logits."""
    mm = layout_state_dict(mmaction2_layout(depth=50, fusion_kernel=5), seed=3)
    path = save_mmaction2(tmp_path / "slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.pth", mm)
    loaded = load_checkpoint(path)
    assert loaded.config.name == "slowfast_4x16_r50_mmaction2" and loaded.meta.trained
    assert loaded.meta.preprocessing == MMACTION2_PREPROCESSING
    torch.manual_seed(2)
    x = torch.randn(1, 3, 32, 96, 96)
    with torch.inference_mode():
        ours = loaded([x[:, :, ::8], x])
        reference = mmaction2_forward(mm, x, resample_rate=8, speed_ratio=8)
    assert 1.0 < float(reference.abs().max()) < 100.0, float(reference.abs().max())
    torch.testing.assert_close(ours, reference, atol=LOGIT_TOL, rtol=0)


def test_registry_name_of_a_file_in_the_hub_cache_loads_with_its_settings(tmp_path: Path) -> None:
    entry = get_weights("MMACTION2_SLOWFAST_4x16_R50")
    model = create_model(entry.arch, num_classes=400)
    old = torch.hub._hub_dir  # set_dir has no "unset": put back exactly what was there
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
        save_mmaction2(tmp_path / "hub" / "checkpoints" / entry.file_name,
                       ours_to_mmaction2(model.state_dict(), fast_channels=FAST_CHANNELS))
        loaded = load_weights("mmaction2_slowfast_4x16_r50")  # cached: no download
    finally:
        torch.hub._hub_dir = old
    assert loaded.config.name == "slowfast_4x16_r50_mmaction2" and loaded.meta.weights == entry.name
    assert loaded.meta.preprocessing == entry.preprocessing == MMACTION2_PREPROCESSING
    assert loaded.config.geometry == entry.geometry
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


@pytest.mark.parametrize("damage", ["missing", "extra", "shape"])
def test_damaged_mmaction2_checkpoint_is_one_line_error(tmp_path: Path, damage: str) -> None:
    model = create_model("slowfast_4x16_r50_mmaction2")
    mm = ours_to_mmaction2(model.state_dict(), fast_channels=FAST_CHANNELS)
    if damage == "missing":
        del mm["backbone.fast_path.layer3.2.conv2.bn.running_var"]
    elif damage == "extra":
        mm["backbone.slow_path.layer3.0.non_local_block.g.conv.weight"] = torch.zeros(1)
    else:
        mm["cls_head.fc_cls.weight"] = torch.zeros(400, 2000)
    path = save_mmaction2(tmp_path / f"{damage}.pth", mm)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path, arch="slowfast_4x16_r50_mmaction2")
    msg = one_line(exc, path)
    assert {"missing": "missing keys", "extra": "unexpected keys", "shape": "shape mismatch"}[damage] in msg


def test_registry_entries_follow_mmaction2s_model_zoo() -> None:
    base = "https://download.openmmlab.com/mmaction/v1.0/recognition/slowfast"
    r50 = get_weights("MMACTION2_SLOWFAST_4x16_R50")
    assert r50.url == (f"{base}/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb/"
                       "slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb_20220901-701b0f6f.pth")
    assert (r50.arch, r50.source, r50.format, r50.top1) == ("slowfast_4x16_r50_mmaction2", "mmaction2",
                                                             "mmaction2_pth", 75.55)
    r101 = get_weights("MMACTION2_SLOWFAST_8x8_R101")
    assert r101.file_name == "slowfast_r101_8xb8-8x8x1-256e_kinetics400-rgb_20220818-9c0e09bd.pth"
    assert get_weights(r101.file_name) is r101  # a hand-downloaded file is recognised by its name
    assert (r101.top1, get_weights("MMACTION2_SLOWFAST_8x8_R50").top1) == (78.65, 76.80)
    # ActionDataPreprocessor mean [123.675, 116.28, 103.53], std [58.395, 57.12, 57.375] on 0..255 RGB
    assert [round(m * 255, 3) for m in r50.preprocessing.mean] == [123.675, 116.28, 103.53]
    assert [round(s * 255, 3) for s in r50.preprocessing.std] == [58.395, 57.12, 57.375]
    # SampleFrames(clip_len=32, frame_interval=2), resample_rate tau, speed_ratio alpha
    assert (r50.geometry.slow_frames, r50.geometry.tau, r50.geometry.alpha) == (4, 16, 8)
    assert r50.geometry.fast_frames == 32 and r50.geometry.window_frames == 32 * 2
    assert r101.geometry.slow_frames * r101.geometry.tau == 64 and r101.geometry.fast_frames == 32
