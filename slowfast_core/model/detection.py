"""The SlowFast detection network (AVA): the classifier's backbone with res5 dilated, and an RoI head per person.

As PyTorchVideo builds `slowfast_r50_detection` (`create_slowfast_with_roi_head`):
- the same stems, res2-res4 and Fast->Slow laterals as the classifier (`net.build_backbone`, one wiring);
- res5 keeps spatial stride 1 and dilates conv_b by 2, so the feature map is 1/16 of the input, not 1/32;
- each pathway is averaged over time and the two are concatenated over channels: (B, C_slow + C_fast, H/16, W/16);
- per box: RoIAlign 7x7 (torchvision.ops, spatial scale 1/16, dense sampling, not aligned), max-pool to one
  position, dropout, linear to the 80 AVA classes; sigmoid (multi-label: a person can sit and talk at once).

Layout (state-dict keys are PyTorchVideo's without its `model.` prefix):
    blocks.0-4       the backbone (same keys as the classifier's blocks.0-4)
    blocks.5         TemporalPoolConcat (no parameters)
    detection_head   RoIHead: proj (Linear C -> num_classes)

`forward` returns logits (N boxes, num_classes); `probabilities` applies the sigmoid PyTorchVideo's head ends with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from slowfast_core.errors import ConfigError
from slowfast_core.model.config import PathwaySpec, SlowFastConfig, get_config
from slowfast_core.model.net import build_backbone, check_clip_inputs, init_weights
from slowfast_core.spec import ClipGeometry, ModelMeta, Preprocessing

#: Total spatial stride of the stem (conv 2, pool 2) and res3, res4 (2 each): res5 adds none when detecting.
DETECTION_STRIDE = 16
RES5_DILATION = 2


@dataclass(frozen=True)
class DetectionConfig:
    """A detection network: a backbone preset, the action classes, the RoI head's settings.

    `backbone` is a classification preset's config (its num_classes is unused); res5 is changed to stride 1,
    dilation 2 when built. `roi_size` is RoIAlign's output (7 x 7, max-pooled to one position).
    """

    name: str
    backbone: SlowFastConfig
    num_classes: int = 80
    dropout: float = 0.5
    roi_size: int = 7
    input_size: int = 256
    aliases: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.roi_size < 1:
            raise ConfigError(f"roi_size must be >= 1, got {self.roi_size}")

    @property
    def geometry(self) -> ClipGeometry:
        """The clip this model takes: the backbone's (T, tau, alpha, layout)."""
        return self.backbone.geometry

    def pathway_specs(self) -> tuple[PathwaySpec, ...]:
        """The backbone's pathway specs with res5 at spatial stride 1 and dilation 2."""
        out = []
        for p in self.backbone.pathway_specs():
            res5 = replace(p.stages[3], spatial_stride=1, dilation=RES5_DILATION)
            out.append(replace(p, stages=(*p.stages[:3], res5)))
        return tuple(out)

    @property
    def head_in_features(self) -> int:
        """Channels of the time-pooled, concatenated pathways the RoI head sees."""
        return self.backbone.head_in_features

    def replace(self, **overrides: object) -> "DetectionConfig":
        """A copy with some fields changed; unknown fields raise ConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown detection option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        return dataclasses.replace(self, **overrides)


DETECTION_PRESETS: dict[str, DetectionConfig] = {
    c.name: c
    for c in (
        # PyTorchVideo's hub `slowfast_r50_detection`: 8x8 R50 backbone (lateral kernel 7, stride alpha=4), AVA v2.2.
        DetectionConfig(name="slowfast_r50_detection", backbone=get_config("slowfast_8x8_r50"), num_classes=80,
                        input_size=256, aliases=("slowfast_8x8_r50_detection",)),
        # The CPU-trainable network of the tests and the synthetic benchmark: slowfast_tiny's backbone.
        DetectionConfig(name="slowfast_tiny_detection", backbone=get_config("slowfast_tiny"), num_classes=80,
                        dropout=0.0, input_size=80),
    )
}
DETECTION_ALIASES: dict[str, str] = {a: c.name for c in DETECTION_PRESETS.values() for a in c.aliases}


def detection_arch_names() -> list[str]:
    """Every accepted detection architecture name: presets, then aliases."""
    return list(DETECTION_PRESETS) + list(DETECTION_ALIASES)


def is_detection_arch(name: str) -> bool:
    """True when `name` names a detection preset (or alias)."""
    key = name.strip().lower()
    return DETECTION_ALIASES.get(key, key) in DETECTION_PRESETS


def get_detection_config(name: str, **overrides: object) -> DetectionConfig:
    """The detection preset `name` (or alias) with `overrides`; unknown names raise ConfigError."""
    key = name.strip().lower()
    key = DETECTION_ALIASES.get(key, key)
    if key not in DETECTION_PRESETS:
        raise ConfigError(f"unknown detection architecture {name!r}: use one of {', '.join(detection_arch_names())}")
    return DETECTION_PRESETS[key].replace(**overrides) if overrides else DETECTION_PRESETS[key]


class TemporalPoolConcat(nn.Module):
    """Average each pathway over time and concatenate over channels (PyTorchVideo: AvgPool3d over all T frames)."""

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        # [(B, C_p, T_p, H, W)] -> (B, sum C_p, H, W)
        return torch.cat([xi.mean(dim=2) for xi in x], dim=1)


class RoIHead(nn.Module):
    """RoIAlign per box on the feature map, max-pool to one position, dropout, linear; returns logits."""

    def __init__(self, *, in_features: int, num_classes: int, dropout: float, roi_size: int,
                 spatial_scale: float) -> None:
        super().__init__()
        self.roi_size = roi_size
        self.spatial_scale = spatial_scale
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_features, num_classes)

    def pool(self, fmap: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """The feature of each box: (B, C, H, W) and (N, 5) [batch index, x1, y1, x2, y2 in input pixels] -> (N, C)."""
        from torchvision.ops import roi_align  # lazy: torchvision's import is heavy and only detection needs it

        rois = roi_align(fmap, boxes.to(fmap.dtype), output_size=(self.roi_size, self.roi_size),
                         spatial_scale=self.spatial_scale, sampling_ratio=0, aligned=False)  # (N, C, 7, 7)
        return rois.amax(dim=(2, 3))  # (N, C)

    def forward(self, fmap: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W), (N, 5) -> logits (N, num_classes)
        return self.proj(self.dropout(self.pool(fmap, boxes)))


def untrained_detection_meta(config: DetectionConfig, categories: Sequence[str] | None = None) -> ModelMeta:
    """Random weights' metadata: `categories` (None: "class i"; the weights package's `create_detection_model`
    names an 80-way head with AVA's), the full frame at the input size. Knows no label files."""
    names = tuple(categories) if categories is not None else tuple(f"class {i}" for i in range(config.num_classes))
    return ModelMeta(categories=names, preprocessing=Preprocessing(short_side=config.input_size, crop="full"))


class SlowFastDetection(nn.Module):
    """Per-person action detector: forward([slow, fast], boxes) -> logits (N, num_classes), one row per box.

    Boxes are (N, 5): the clip's index in the batch, then x1, y1, x2, y2 in pixels of the model's input
    (the resized full frame; no crop, as AVA's boxes cover the whole frame). `meta` is fixed at build.
    """

    def __init__(self, config: DetectionConfig, *, meta: ModelMeta | None = None) -> None:
        super().__init__()
        meta = untrained_detection_meta(config) if meta is None else meta
        if len(meta.categories) != config.num_classes:
            raise ValueError(f"{len(meta.categories)} categories for a {config.num_classes}-class {config.name}")
        self.config = config
        self._meta = meta
        self.blocks = nn.ModuleList([*build_backbone(config.backbone, config.pathway_specs()), TemporalPoolConcat()])
        self.detection_head = RoIHead(in_features=config.head_in_features, num_classes=config.num_classes,
                                      dropout=config.dropout, roi_size=config.roi_size,
                                      spatial_scale=1.0 / DETECTION_STRIDE)
        init_weights(self)

    @property
    def meta(self) -> ModelMeta:
        """Categories, preprocessing and weights origin, fixed at build."""
        return self._meta

    def feature_map(self, x: list[torch.Tensor]) -> torch.Tensor:
        """The map the RoI head pools from: [slow, fast] -> (B, C_slow + C_fast, H/16, W/16)."""
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            check_clip_inputs(self.config.backbone, x)
        feats: list[torch.Tensor] = list(x)
        for block in self.blocks[:5]:
            feats = block(feats)
        return self.blocks[5](feats)

    def forward(self, x: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        # [slow (B, 3, T, H, W), fast (B, 3, αT, H, W)], boxes (N, 5) -> logits (N, num_classes)
        return self.detection_head(self.feature_map(x), boxes)

    def probabilities(self, x: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """Per-box, per-class probabilities (sigmoid: classes are independent): (N, num_classes)."""
        return torch.sigmoid(self(x, boxes))
