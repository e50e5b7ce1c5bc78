"""Architecture signatures (weights/signature.py): what the words of `describe` say (they are the error message
for a checkpoint that fits no preset), depth from block counts, a config's and a state dict's signature agreeing,
and what is not a backbone. test_checkpoint detects every preset from its weights."""

from __future__ import annotations

import pytest

from slowfast_core.errors import CheckpointError
from slowfast_core.model.config import PRESETS, get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.weights.signature import (
    ArchSignature,
    PathwaySignature,
    config_signature,
    detect_arch,
    matching_preset,
    state_signature,
)

DESCRIBED = {
    "slowfast_tiny": "2 pathway(s), R14, stem width 8, 1/1 temporal res4 blocks, fusion kernel 5",
    "slow_tiny": "1 pathway(s), R14, stem width 8, 1/1 temporal res4 blocks, no fusion conv",
    "fast_tiny": "1 pathway(s), R14, stem width 2, 1/1 temporal res4 blocks, no fusion conv",
    "slowfast_8x8_r50": "2 pathway(s), R50, stem width 64, 6/6 temporal res4 blocks, fusion kernel 7",
    "slowfast_8x8_r50_mmaction2": "2 pathway(s), R50, stem width 64, 6/6 temporal res4 blocks, fusion kernel 7, "
                                  "no lateral BN",
    "slowfast_16x8_r101_50_50": "2 pathway(s), R101, stem width 64, 6/23 temporal res4 blocks, fusion kernel 5",
}


@pytest.mark.parametrize("preset", list(DESCRIBED))
def test_describe_names_the_facts(preset: str) -> None:
    assert config_signature(PRESETS[preset]).describe() == DESCRIBED[preset]


@pytest.mark.parametrize("preset", ["slowfast_tiny", "slow_tiny", "fast_tiny"])
def test_a_state_dict_has_its_configs_signature(preset: str) -> None:
    state = SlowFast(get_config(preset)).state_dict()
    assert state_signature(state) == config_signature(get_config(preset))
    assert matching_preset(state_signature(state)) == preset == detect_arch(state)


def test_depth_from_block_counts() -> None:
    assert PathwaySignature(64, 1, ((1,) * 3, (1,) * 4, (3,) * 6, (3,) * 3)).depth == 50
    assert PathwaySignature(64, 1, ((1,) * 3, (1,) * 4, (3,) * 23, (3,) * 3)).depth == 101
    odd = PathwaySignature(64, 1, ((1,) * 2, (1,) * 2, (3,) * 2, (3,) * 2))
    assert odd.depth is None
    assert ArchSignature((odd,), None).describe() == \
        "1 pathway(s), blocks (2, 2, 2, 2), stem width 64, 2/2 temporal res4 blocks, no fusion conv"
    short = PathwaySignature(8, 1, ((1,), (1,)))  # two stages: no res4 to count
    assert ArchSignature((short,), 3, fusion_norm=False).describe() == \
        "1 pathway(s), blocks (1, 1), stem width 8, fusion kernel 3, no lateral BN"


def test_fusion_without_norm_and_without_fusion() -> None:
    state = SlowFast(get_config("slowfast_tiny")).state_dict()
    assert state_signature(state).fusion_norm is True
    bare = {k: v for k, v in state.items() if not k.startswith("blocks.0.multipathway_fusion.norm.")}
    assert state_signature(bare).fusion_norm is False and state_signature(bare).fusion_kernel == 5
    unfused = {k: v for k, v in state.items() if "multipathway_fusion" not in k}
    sig = state_signature(unfused)
    assert sig.fusion_kernel is None and sig.fusion_norm is True and len(sig.pathways) == 2


@pytest.mark.parametrize("drop", ["blocks.0.multipathway_blocks.0.conv.weight", "res_blocks.0.branch2.conv_a"])
def test_no_backbone_is_a_one_line_error(drop: str) -> None:
    state = SlowFast(get_config("slow_tiny")).state_dict()
    if drop.startswith("blocks.0"):
        state = {k: v for k, v in state.items() if k != drop}
    else:  # res2 loses its only block's conv_a: an empty stage
        state = {k: v for k, v in state.items() if not (k.startswith("blocks.1.") and drop in k)}
    with pytest.raises(CheckpointError, match="^my.pyth holds no complete SlowFast/ResNet backbone .*: use a "
                                              "SlowFast, Slow-only or Fast-only checkpoint$"):
        state_signature(state, source="my.pyth")
    with pytest.raises(CheckpointError, match="^state dict holds no complete"):
        state_signature({})


def test_a_signature_no_preset_has() -> None:
    state = SlowFast(get_config("slowfast_tiny", fusion_kernel=3)).state_dict()
    assert matching_preset(state_signature(state)) is None
    with pytest.raises(CheckpointError, match=r"^no preset fits this state dict \(2 pathway\(s\), R14, .*fusion "
                                              r"kernel 3\): pass arch= with overrides that match it$"):
        detect_arch(state)


def test_a_config_without_a_second_pathway_has_no_fusion_whatever_it_names() -> None:
    single = get_config("slow_tiny", fusion="tconv", fusion_norm=False)  # one pathway: nothing to fuse
    sig = config_signature(single)
    assert sig.fusion_kernel is None and sig.fusion_norm is True
    assert sig == state_signature(SlowFast(single).state_dict())


def test_describe_counts_res4_blocks_with_a_temporal_kernel() -> None:
    three = PathwaySignature(8, 1, ((1,), (1,), (2, 1, 3)))  # three stages: res4 is there
    assert ArchSignature((three,), None).describe() == \
        "1 pathway(s), blocks (1, 1, 3), stem width 8, 2/3 temporal res4 blocks, no fusion conv"
