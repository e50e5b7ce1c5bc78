"""Architecture signatures: the facts about a SlowFast readable from its tensor shapes, and the preset they fit.

A signature (pathways, stem widths, temporal kernels per block, lateral fusion) is computed from a config
without building a model (`config_signature`) or from a state dict in our key layout (`state_signature`);
equal signatures mean the weights load into that config. T, tau and alpha are not in the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.model.config import PRESETS, STAGE_DEPTHS, SlowFastConfig


@dataclass(frozen=True)
class PathwaySignature:
    """What the weights say about one pathway: stem width and temporal kernel, conv_a temporal kernels."""

    stem_dim: int
    stem_temporal_kernel: int
    temporal_kernels: tuple[tuple[int, ...], ...]  # per stage res2..res5, one per block

    @property
    def depth(self) -> int | None:
        """ResNet depth from the block counts (50, 101), or None when they fit no depth."""
        counts = tuple(len(k) for k in self.temporal_kernels)
        return next((d for d, c in STAGE_DEPTHS.items() if c == counts), None)


@dataclass(frozen=True)
class ArchSignature:
    """The architecture facts readable from tensor shapes. T, tau and alpha are not among them."""

    pathways: tuple[PathwaySignature, ...]
    fusion_kernel: int | None  # temporal kernel of the T-conv lateral connections; None: no fusion weights
    fusion_norm: bool = True  # the laterals have BN (PySlowFast, PyTorchVideo); False: bare convs (mmaction2)

    def describe(self) -> str:
        """A short human description, for error messages."""
        first = self.pathways[0]
        depth = first.depth
        parts = [
            f"{len(self.pathways)} pathway(s)",
            f"R{depth}" if depth else f"blocks {tuple(len(k) for k in first.temporal_kernels)}",
            f"stem width {first.stem_dim}",
        ]
        if len(first.temporal_kernels) > 2:
            res4 = first.temporal_kernels[2]
            parts.append(f"{sum(k > 1 for k in res4)}/{len(res4)} temporal res4 blocks")
        parts.append(f"fusion kernel {self.fusion_kernel}" if self.fusion_kernel else "no fusion conv")
        if self.fusion_kernel and not self.fusion_norm:
            parts.append("no lateral BN")
        return ", ".join(parts)


def config_signature(config: SlowFastConfig) -> ArchSignature:
    """The signature a model built from `config` has (no model is built)."""
    pathways = tuple(
        PathwaySignature(p.stem_dim, p.stem_temporal_kernel, tuple(s.temporal_kernels for s in p.stages))
        for p in config.pathway_specs()
    )
    tconv = config.has_fusion and config.fusion == "tconv"
    return ArchSignature(pathways, config.fusion_kernel if tconv else None, config.fusion_norm if tconv else True)


def state_signature(state: Mapping[str, torch.Tensor], *, source: str = "state dict") -> ArchSignature:
    """Read the signature from tensor shapes of a state dict in our layout; CheckpointError if it is no SlowFast."""
    pathways = []
    p = 0
    while (stem := state.get(f"blocks.0.multipathway_blocks.{p}.conv.weight")) is not None:
        stages = []
        for s in range(1, 5):
            kernels = []
            prefix = f"blocks.{s}.multipathway_blocks.{p}.res_blocks"
            while (w := state.get(f"{prefix}.{len(kernels)}.branch2.conv_a.weight")) is not None:
                kernels.append(int(w.shape[2]))  # (C_out, C_in, kt, 1, 1)
            stages.append(tuple(kernels))
        pathways.append(PathwaySignature(int(stem.shape[0]), int(stem.shape[2]), tuple(stages)))  # (C, 3, kt, 7, 7)
        p += 1
    if not pathways or not all(st for pw in pathways for st in pw.temporal_kernels):  # a stage without blocks
        raise CheckpointError(
            f"{source} holds no complete SlowFast/ResNet backbone (no stem conv or empty res stages): "
            "use a SlowFast, Slow-only or Fast-only checkpoint"
        )
    fusion = state.get("blocks.0.multipathway_fusion.conv_fast_to_slow.weight")
    if fusion is None:
        return ArchSignature(tuple(pathways), None)
    return ArchSignature(tuple(pathways), int(fusion.shape[2]), "blocks.0.multipathway_fusion.norm.weight" in state)


def matching_preset(signature: ArchSignature) -> str | None:
    """The first preset (in PRESETS order) whose signature equals `signature`."""
    return next((name for name, cfg in PRESETS.items() if config_signature(cfg) == signature), None)


def detect_arch(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The preset whose architecture fits `state_dict` (our key layout), from tensor shapes alone.

    Read from the weights: which pathways exist (one pathway: Slow if its stem is 64 wide with temporal
    kernel 1, Fast if 8 wide with kernel 5), depth (res4 has 6 blocks in R50, 23 in R101), the lateral
    T-conv's temporal kernel, and which res4 blocks have temporal conv_a kernels (all in slowfast_8x8_r101,
    the first 6 in slowfast_16x8_r101_50_50).
    Not in the weights: T, tau and alpha (no tensor depends on them). As in PySlowFast's official configs,
    an R50 with fusion kernel 7 is taken as slowfast_8x8_r50 and one with kernel 5 as slowfast_4x16_r50;
    pass `arch` explicitly (with overrides) for other clip geometries.
    """
    signature = state_signature(state_dict)
    name = matching_preset(signature)
    if name is None:
        raise CheckpointError(
            f"no preset fits this state dict ({signature.describe()}): pass arch= with overrides that match it"
        )
    return name

