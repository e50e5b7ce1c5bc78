"""The SlowFast network: pathways wired stage by stage, fused Fast->Slow, pooled, classified.

Layout (state-dict keys match PyTorchVideo's `create_slowfast`):
    blocks.0   MultiPathway(stems,  fusion)
    blocks.1-3 MultiPathway(res2..res4 stages, fusion)
    blocks.4   MultiPathway(res5 stages, no fusion)
    blocks.5   PathwayPool   global average of each pathway, concatenated (adapts to any input size)
    blocks.6   Head          dropout + linear classifier
"""

from __future__ import annotations

import torch
from torch import nn

from slowfast_core.errors import ConfigError
from slowfast_core.model.blocks import ResStage, Stem
from slowfast_core.model.config import PathwaySpec, SlowFastConfig
from slowfast_core.model.fusion import build_fusion
from slowfast_core.spec import ModelMeta, Preprocessing

#: smallest input short side: five stride-2 stages leave a 1-pixel map. The Kinetics weights keep most of their
#: accuracy only from 112 up, but that is the weights' matter, not the network's
MIN_SHORT_SIDE = 32


class MultiPathway(nn.Module):
    """Runs one block per pathway on its own input, then the optional fusion on the list of outputs."""

    def __init__(self, blocks: list[nn.Module], fusion: nn.Module | None) -> None:
        super().__init__()
        self.multipathway_blocks = nn.ModuleList(blocks)
        self.multipathway_fusion = fusion

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        # [(B, C_p, T_p, H, W) per pathway] -> same list structure
        out = [block(xi) for block, xi in zip(self.multipathway_blocks, x)]
        if self.multipathway_fusion is not None:
            out = self.multipathway_fusion(out)
        return out


class PathwayPool(nn.Module):
    """Global average pool over (T, H, W) of each pathway, concatenated over channels.

    Unlike PyTorchVideo's fixed AvgPool3d kernels, this works at any input size and clip length.
    """

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        # [(B, C_p, T_p, H_p, W_p)] -> (B, sum C_p)
        return torch.cat([xi.mean(dim=(2, 3, 4)) for xi in x], dim=1)


class Head(nn.Module):
    """Dropout then a linear classifier; returns logits (softmax is the caller's choice)."""

    def __init__(self, *, in_features: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C) -> (B, num_classes)
        return self.proj(self.dropout(x))


def build_backbone(config: SlowFastConfig, specs: tuple[PathwaySpec, ...]) -> list[nn.Module]:
    """Stems and res2..res5 of every pathway with the Fast->Slow laterals: blocks 0-4 of both heads' networks.

    `specs` are `config.pathway_specs()`, or those with res5 changed (the detection network's res5 keeps
    spatial stride 1 and dilates conv_b by 2): the one wiring of the backbone for the classifier and the RoI head.
    """
    fast_dims = config.fast_fusion_dims()

    def fusion(stage: int) -> nn.Module | None:
        if not config.has_fusion or stage >= len(fast_dims):
            return None
        return build_fusion(
            config.fusion, fast_dim=fast_dims[stage], ratio=config.fusion_ratio,
            kernel=config.fusion_kernel, alpha=config.alpha, norm=config.fusion_norm,
        )

    blocks: list[nn.Module] = [
        MultiPathway([Stem(dim_out=p.stem_dim, temporal_kernel=p.stem_temporal_kernel,
                           time_difference=p.time_difference) for p in specs], fusion(0))
    ]
    for i in range(4):
        blocks.append(MultiPathway([ResStage(p.stages[i]) for p in specs], fusion(i + 1)))
    return blocks


def check_clip_inputs(config: SlowFastConfig, x: list[torch.Tensor]) -> None:
    """Raise ConfigError with a clear message when the inputs `x` do not fit a network built from `config`."""
    n = len(config.pathway_specs())
    if len(x) != n:
        raise ConfigError(f"{config.name} takes {n} input tensor(s), got {len(x)}")
    for t, clip in zip(x, config.geometry.pathways()):
        if t.dim() != 5 or t.shape[1] != 3:
            raise ConfigError(f"{clip.name} input must be (B, 3, T, H, W), got {tuple(t.shape)}")
        if min(t.shape[-2:]) < MIN_SHORT_SIDE:
            raise ConfigError(
                f"input {tuple(t.shape[-2:])} is too small: the short side must be >= {MIN_SHORT_SIDE}")
    if n == 2 and x[1].shape[2] != config.alpha * x[0].shape[2]:
        raise ConfigError(
            f"Fast must have alpha={config.alpha} times Slow's frames, "
            f"got {x[1].shape[2]} and {x[0].shape[2]}"
        )


def untrained_meta(config: SlowFastConfig) -> ModelMeta:
    """The metadata of random weights for `config`: "class i" names, the anchors' preprocessing at its input size."""
    return ModelMeta(categories=tuple(f"class {i}" for i in range(config.num_classes)),
                     preprocessing=Preprocessing(short_side=config.input_size))


class SlowFast(nn.Module):
    """SlowFast (or Slow-only / Fast-only) video classifier. Forward takes one tensor per pathway.

    `meta` (categories, preprocessing, weights origin) is given once, at build (None: `untrained_meta`), and is
    read-only afterwards: a model with other labels or another input size is another model, built as such
    (`create_model(..., categories=, input_size=)`, the checkpoint loaders), so nothing that holds a model sees
    its labels or preprocessing change under it.
    """

    def __init__(self, config: SlowFastConfig, *, meta: ModelMeta | None = None) -> None:
        super().__init__()
        meta = untrained_meta(config) if meta is None else meta
        if len(meta.categories) != config.num_classes:
            raise ValueError(f"{len(meta.categories)} categories for a {config.num_classes}-class {config.name}")
        self.config = config
        self._meta = meta
        blocks = build_backbone(config, config.pathway_specs())
        blocks.append(PathwayPool())
        blocks.append(Head(in_features=config.head_in_features, num_classes=config.num_classes,
                           dropout=config.dropout))
        self.blocks = nn.ModuleList(blocks)
        init_weights(self)

    @property
    def meta(self) -> ModelMeta:
        """Categories, preprocessing and weights origin, fixed at build (no setter: assigning raises)."""
        return self._meta

    @property
    def output_features(self) -> int:
        """Width of the forward's output: the classes, or the pooled feature when the classifier is removed."""
        proj = self.blocks[6].proj
        return proj.out_features if isinstance(proj, nn.Linear) else self.config.head_in_features

    @property
    def num_pathways(self) -> int:
        """1 for Slow-only and Fast-only, 2 for SlowFast."""
        return len(self.config.pathway_specs())

    def check_inputs(self, x: list[torch.Tensor]) -> None:
        """Raise ConfigError with a clear message when the inputs do not fit this model."""
        check_clip_inputs(self.config, x)

    def features(self, x: list[torch.Tensor]) -> torch.Tensor:
        """The pooled feature the classifier sees: [slow, fast] -> (B, C_slow + C_fast)."""
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            self.check_inputs(x)
        feats: list[torch.Tensor] = list(x)
        for block in self.blocks[:5]:
            feats = block(feats)
        return self.blocks[5](feats)  # (B, C_slow + C_fast)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        # [slow (B, 3, T, H, W), fast (B, 3, αT, H, W)] -> logits (B, num_classes)
        return self.blocks[6](self.features(x))


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs, unit BN, small linear head: a sane untrained model whose outputs vary with input."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
