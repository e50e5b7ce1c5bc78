"""Key conversion between mmaction2's SlowFast checkpoints and our layout (both directions).

mmaction2 (`mmaction/models/backbones/resnet3d_slowfast.py`, `heads/slowfast_head.py`) keeps a checkpoint as
`{"meta": ..., "state_dict": ...}` with a `Recognizer3D`'s keys:
```
backbone.{slow,fast}_path.conv1.conv.weight / conv1.bn.*           stem conv / BN (ConvModule)
backbone.{slow,fast}_path.layer{S}.{I}.conv{1,2,3}.conv.weight     bottleneck convs (1: temporal, 2: 3x3)
backbone.{slow,fast}_path.layer{S}.{I}.conv{1,2,3}.bn.*            their BNs
backbone.{slow,fast}_path.layer{S}.{I}.downsample.{conv,bn}.*      projection shortcut of a stage's first block
backbone.slow_path.conv1_lateral.conv.weight                       Fast->Slow after the stem (conv only)
backbone.slow_path.layer{1,2,3}_lateral.conv.weight                Fast->Slow after res2..res4 (conv only)
cls_head.fc_cls.{weight,bias}                                      classifier over [pooled Fast, pooled Slow]
```
Ours are PyTorchVideo's (`blocks.N.multipathway_blocks.P...`; layer S is our blocks.S, slow_path P=0,
fast_path P=1). Two things differ beyond names, and the `*_mmaction2` presets build them mmaction2's way:
the laterals have no BN/ReLU (`fusion_norm=False`), and the head concatenates Fast before Slow, so the
classifier's input columns are reordered here (ours: Slow first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from slowfast_core.spec import Preprocessing

#: mmaction2's `ActionDataPreprocessor` for its Kinetics SlowFast configs: mean [123.675, 116.28, 103.53] and
#: std [58.395, 57.12, 57.375] on 0..255 RGB (ImageNet's), i.e. these on /255; test-time short side 256.
MMACTION2_PREPROCESSING = Preprocessing(
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), short_side=256, crop="center"
)
#: Buffers some mmaction2 versions keep beside the model (input mean/std); the weights entry carries them.
DROPPED_KEYS: tuple[str, ...] = ("data_preprocessor.mean", "data_preprocessor.std")
HEAD_WEIGHT, HEAD_BIAS = "cls_head.fc_cls.weight", "cls_head.fc_cls.bias"
OUR_HEAD_WEIGHT, OUR_HEAD_BIAS = "blocks.6.proj.weight", "blocks.6.proj.bias"

_PATHWAY = {"slow": 0, "fast": 1}
_PATHWAY_NAME = {0: "slow", 1: "fast"}
_BRANCH2 = {"1": "a", "2": "b", "3": "c"}
_BRANCH2_INV = {v: k for k, v in _BRANCH2.items()}

_STEM = re.compile(r"^backbone\.(slow|fast)_path\.conv1\.(conv|bn)\.(\w+)$")
_BLOCK_CONV = re.compile(r"^backbone\.(slow|fast)_path\.layer([1-4])\.(\d+)\.conv([123])\.(conv|bn)\.(\w+)$")
_BLOCK_DOWN = re.compile(r"^backbone\.(slow|fast)_path\.layer([1-4])\.(\d+)\.downsample\.(conv|bn)\.(\w+)$")
_LATERAL = re.compile(r"^backbone\.slow_path\.(?:conv1|layer([1-3]))_lateral\.conv\.(\w+)$")

_OURS_STEM = re.compile(r"^blocks\.0\.multipathway_blocks\.([01])\.(conv|norm)\.(\w+)$")
_OURS_BRANCH2 = re.compile(
    r"^blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\.branch2\.(conv|norm)_([abc])\.(\w+)$"
)
_OURS_BRANCH1 = re.compile(
    r"^blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\.branch1_(conv|norm)\.(\w+)$"
)
_OURS_FUSION = re.compile(r"^blocks\.([0-3])\.multipathway_fusion\.conv_fast_to_slow\.(\w+)$")


def is_mmaction2_state(keys: Mapping[str, object] | list[str]) -> bool:
    """True when the keys are an mmaction2 SlowFast recognizer's (`backbone.slow_path.*` / `fast_path.*`)."""
    return any(k.startswith(("backbone.slow_path.", "backbone.fast_path.")) for k in keys)


def mmaction2_to_ours_key(key: str) -> str | None:
    """Our key for mmaction2's `key` (the classifier excepted: see `mmaction2_to_ours`); None: no counterpart.

    Example: `backbone.fast_path.layer2.0.conv1.bn.running_var`
          -> `blocks.2.multipathway_blocks.1.res_blocks.0.branch2.norm_a.running_var`.
    """
    if m := _STEM.match(key):
        path, kind, param = m.groups()
        return f"blocks.0.multipathway_blocks.{_PATHWAY[path]}.{'conv' if kind == 'conv' else 'norm'}.{param}"
    if m := _BLOCK_CONV.match(key):
        path, stage, block, conv, kind, param = m.groups()
        module = f"{'conv' if kind == 'conv' else 'norm'}_{_BRANCH2[conv]}"
        return f"blocks.{stage}.multipathway_blocks.{_PATHWAY[path]}.res_blocks.{block}.branch2.{module}.{param}"
    if m := _BLOCK_DOWN.match(key):
        path, stage, block, kind, param = m.groups()
        module = "branch1_conv" if kind == "conv" else "branch1_norm"
        return f"blocks.{stage}.multipathway_blocks.{_PATHWAY[path]}.res_blocks.{block}.{module}.{param}"
    if m := _LATERAL.match(key):
        stage, param = m.groups()
        return f"blocks.{stage or 0}.multipathway_fusion.conv_fast_to_slow.{param}"
    return None


def ours_to_mmaction2_key(key: str) -> str | None:
    """mmaction2's key for our `key` (inverse of `mmaction2_to_ours_key`); None for keys it has no place for
    (the lateral BN of our PySlowFast-style presets, the classifier)."""
    if m := _OURS_STEM.match(key):
        p, kind, param = m.groups()
        return f"backbone.{_PATHWAY_NAME[int(p)]}_path.conv1.{'conv' if kind == 'conv' else 'bn'}.{param}"
    if m := _OURS_BRANCH2.match(key):
        stage, p, block, kind, abc, param = m.groups()
        module = f"conv{_BRANCH2_INV[abc]}.{'conv' if kind == 'conv' else 'bn'}"
        return f"backbone.{_PATHWAY_NAME[int(p)]}_path.layer{stage}.{block}.{module}.{param}"
    if m := _OURS_BRANCH1.match(key):
        stage, p, block, kind, param = m.groups()
        module = "downsample." + ("conv" if kind == "conv" else "bn")
        return f"backbone.{_PATHWAY_NAME[int(p)]}_path.layer{stage}.{block}.{module}.{param}"
    if m := _OURS_FUSION.match(key):
        stage, param = m.groups()
        name = "conv1_lateral" if stage == "0" else f"layer{stage}_lateral"
        return f"backbone.slow_path.{name}.conv.{param}"
    return None


def fast_head_channels(state: Mapping[str, torch.Tensor]) -> int | None:
    """Channels of the pooled Fast features (the first columns of mmaction2's classifier): the output width
    of the Fast pathway's last block, read from its last conv3. None when the state has no Fast pathway."""
    blocks = [int(m.group(1)) for k in state
              if (m := re.match(r"^backbone\.fast_path\.layer4\.(\d+)\.conv3\.conv\.weight$", k))]
    if not blocks:
        return None
    return int(state[f"backbone.fast_path.layer4.{max(blocks)}.conv3.conv.weight"].shape[0])  # (C_out, C_in, 1, 1, 1)


def mmaction2_to_ours(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` (mmaction2 keys) with our keys. The classifier's input columns go from [Fast, Slow] to ours,
    [Slow, Fast]. Keys without a counterpart are kept as they are, so strict loading reports them."""
    out: dict[str, torch.Tensor] = {}
    fast = fast_head_channels(state)
    for key, value in state.items():
        if key in DROPPED_KEYS:
            continue
        if key == HEAD_WEIGHT:
            if fast is not None and value.dim() == 2 and value.shape[1] > fast:
                value = torch.cat([value[:, fast:], value[:, :fast]], dim=1)  # (classes, C_slow + C_fast)
            out[OUR_HEAD_WEIGHT] = value
        elif key == HEAD_BIAS:
            out[OUR_HEAD_BIAS] = value
        else:
            out[mmaction2_to_ours_key(key) or key] = value
    return out


def ours_to_mmaction2(state: Mapping[str, torch.Tensor], *, fast_channels: int) -> dict[str, torch.Tensor]:
    """Our state dict (a `*_mmaction2` preset's) in mmaction2's layout, as its checkpoints hold it.

    fast_channels: width of the pooled Fast features (256 for beta = 1/8), whose columns mmaction2's
    classifier takes first. Our BN step counters are kept (mmaction2's BNs have them too). Raises
    ValueError for keys with no mmaction2 counterpart (e.g. lateral BNs of a PySlowFast-style preset).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key == OUR_HEAD_WEIGHT:
            slow = value.shape[1] - fast_channels
            out[HEAD_WEIGHT] = torch.cat([value[:, slow:], value[:, :slow]], dim=1)  # (classes, C_fast + C_slow)
        elif key == OUR_HEAD_BIAS:
            out[HEAD_BIAS] = value
        elif (mm := ours_to_mmaction2_key(key)) is not None:
            out[mm] = value
        else:
            raise ValueError(f"{key} has no place in an mmaction2 SlowFast checkpoint")
    return out
