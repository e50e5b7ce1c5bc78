"""Model configuration: a few small dataclasses and the named presets.

A `SlowFastConfig` holds every choice the paper varies (depth, T, tau, alpha, beta, fusion kind, which
pathways); `stage_specs()` expands it into per-pathway, per-stage block settings that the builder wires.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from slowfast_core.errors import ConfigError
from slowfast_core.spec import ClipGeometry, PathwayLayout

FusionKind = Literal["tconv", "tsample", "ttoc_sum", "ttoc_concat", "none"]
FUSION_KINDS: tuple[str, ...] = ("tconv", "tsample", "ttoc_sum", "ttoc_concat", "none")
FastInput = Literal["rgb", "diff"]
FAST_INPUTS: tuple[str, ...] = ("rgb", "diff")

#: Residual blocks per stage (res2..res5) for each supported depth.
#: Depth 14 (one bottleneck per stage) is the small network of the `*_tiny` presets, made for CPU training.
STAGE_DEPTHS: dict[int, tuple[int, int, int, int]] = {14: (1, 1, 1, 1), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
STEM_WIDTH = 64
STAGE_INNER = (64, 128, 256, 512)
STAGE_OUT = (256, 512, 1024, 2048)
STAGE_SPATIAL_STRIDES = (1, 2, 2, 2)


def width(channels: int, divisor: int) -> int:
    """Channels of a pathway 1/divisor as wide, rounded up.

    Only matters when the divisor does not divide the width (beta = 1/6, 1/12): rounding up reproduces the
    paper's Table 5b within 1.7% for every beta, floor division (PySlowFast's `//`) falls 3.2% short at 1/6.
    """
    return max(1, -(-channels // divisor))


@dataclass(frozen=True)
class StageSpec:
    """One res stage of one pathway: channel widths, spatial stride, and conv_a's temporal kernel per block."""

    dim_in: int
    dim_inner: int
    dim_out: int
    spatial_stride: int
    temporal_kernels: tuple[int, ...]  # one per block; the block count is its length
    dilation: int = 1  # conv_b's spatial dilation (2 in the detection network's res5, where the stride is 1)


@dataclass(frozen=True)
class PathwaySpec:
    """Stem and stages of one pathway. `fused_extra` is what the lateral fusion adds to its stages' inputs."""

    name: Literal["slow", "fast"]
    stem_dim: int
    stem_temporal_kernel: int
    stages: tuple[StageSpec, ...]
    time_difference: bool = False  # the stem convolves frame-to-frame differences (the Fast pathway's "diff")


@dataclass(frozen=True)
class SlowFastConfig:
    """Everything that defines a SlowFast-family network.

    beta_inv is 1/beta (8 means the Fast pathway has 1/8 of Slow's channels). `res4_temporal_blocks` limits
    the temporal conv_a kernels of res4 to the first N blocks (the "50_50" R101 variant); None means all.
    `width_div` divides every Slow width (4: a quarter-width ResNet; the Fast widths follow through beta).
    `input_size` is the short side the model is made for (inference resizes frames to it; training crops
    `input_size * 7/8` from a scale-jittered frame, the paper's 224-of-[256, 320] ratio).
    `fast_min_channels` is a floor on every Fast width. At 1/8 width and beta <= 1/8 the Fast stem rounds to a single
    channel, one ReLU that training can drive below zero everywhere: the whole Fast pathway then sees nothing
    (README, "What stalls": the stalled runs had dead Fast stem channels). A floor of 4 keeps the stem alive, though
    it does not by itself make every seed learn the tick, and at 1/8 width it costs 2.4x the tiny model's GFLOPs.
    `fast_input`: what the Fast stem convolves. "rgb" (the paper's main models): the frames. "diff": each frame
    minus the one before it (the first frame's difference is zero), the paper's Table 5c "time difference" input:
    a static background and a still object vanish from it, so the Fast pathway sees nothing but change.
    `fusion_norm`: BN + ReLU after each T-conv lateral (PySlowFast, PyTorchVideo); False: the conv alone,
    as mmaction2 builds its laterals (the `*_mmaction2` presets, for its model-zoo checkpoints).
    """

    name: str = "custom"
    depth: int = 50
    slow_frames: int = 8
    tau: int = 8
    alpha: int = 4
    beta_inv: int = 8
    layout: PathwayLayout = "slowfast"
    fusion: FusionKind = "tconv"
    fusion_kernel: int = 7
    fusion_ratio: int = 2
    fusion_norm: bool = True
    res4_temporal_blocks: int | None = None
    num_classes: int = 400
    dropout: float = 0.5
    width_div: int = 1
    fast_min_channels: int = 1  # every Fast width at least this (the tiny presets' 1-channel stem can die: 1)
    fast_input: FastInput = "rgb"  # the Fast stem's input: frames, or frame-to-frame differences (Table 5c)
    input_size: int = 256
    aliases: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.depth not in STAGE_DEPTHS:
            raise ConfigError(f"depth {self.depth} is not supported: use one of {sorted(STAGE_DEPTHS)}")
        if self.fusion not in FUSION_KINDS:
            raise ConfigError(f"unknown fusion {self.fusion!r}: use one of {', '.join(FUSION_KINDS)}")
        if not 1 <= self.beta_inv <= STEM_WIDTH:
            raise ConfigError(f"beta_inv {self.beta_inv} must be in 1..{STEM_WIDTH} (Fast widths are ceil(C / beta_inv))")
        if self.fusion_kernel < 1 or self.fusion_kernel % 2 == 0:
            raise ConfigError(f"fusion kernel {self.fusion_kernel} must be odd and positive")
        if self.num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 1 <= self.fast_min_channels <= STEM_WIDTH:
            raise ConfigError(f"fast_min_channels {self.fast_min_channels} must be in 1..{STEM_WIDTH}")
        if self.fast_input not in FAST_INPUTS:
            raise ConfigError(f"unknown Fast input {self.fast_input!r}: use one of {', '.join(FAST_INPUTS)}")
        if self.width_div not in (1, 2, 4, 8):
            raise ConfigError(f"width_div {self.width_div} must be 1, 2, 4 or 8")
        if not 32 <= self.input_size <= 1024:
            raise ConfigError(f"input size {self.input_size} must be in 32..1024")
        if self.fusion == "ttoc_sum" and self.layout == "slowfast" and self.alpha != self.beta_inv:
            raise ConfigError(
                f"fusion ttoc_sum needs alpha*beta = 1 (alpha={self.alpha}, beta=1/{self.beta_inv}); "
                "use ttoc_concat or tconv"
            )
        ClipGeometry(self.slow_frames, self.tau, self.alpha, self.layout)  # validates T, tau, alpha, layout

    @property
    def geometry(self) -> ClipGeometry:
        """The clip this model takes (T, tau, alpha, layout)."""
        return ClipGeometry(self.slow_frames, self.tau, self.alpha, self.layout)

    @property
    def has_fusion(self) -> bool:
        """True when Fast->Slow lateral connections exist (two pathways and a fusion kind other than none)."""
        return self.layout == "slowfast" and self.fusion != "none"

    def fusion_channels(self, fast_dim: int) -> int:
        """Channels the lateral connection adds to Slow, given the Fast pathway's channels at that point."""
        if not self.has_fusion:
            return 0
        return {
            "tconv": self.fusion_ratio * fast_dim,
            "tsample": fast_dim,
            "ttoc_concat": self.alpha * fast_dim,
            "ttoc_sum": 0,
        }[self.fusion]

    def pathway_specs(self) -> tuple[PathwaySpec, ...]:
        """Per-pathway stems and stages, in forward-input order (Slow first)."""
        specs = []
        for name in ("slow", "fast"):
            if self.layout not in ("slowfast", name):
                continue
            specs.append(self._pathway_spec(name))
        return tuple(specs)

    def fast_fusion_dims(self) -> tuple[int, ...]:
        """Fast-pathway channels at the four fusion points: after the stem, res2, res3 and res4."""
        return tuple(self._width("fast", d) for d in (STEM_WIDTH, *STAGE_OUT[:3]))

    def _width(self, name: Literal["slow", "fast"], channels: int) -> int:
        """A ResNet width in pathway `name`: 1/width_div of it (Slow), and 1/beta of that, at least
        `fast_min_channels` (Fast)."""
        if name == "slow":
            return width(channels, self.width_div)
        return max(self.fast_min_channels, width(channels, self.width_div * self.beta_inv))

    def _pathway_spec(self, name: Literal["slow", "fast"]) -> PathwaySpec:
        fused = self.fast_fusion_dims()
        stem_dim = self._width(name, STEM_WIDTH)
        stages = []
        dim_in = stem_dim
        for i, blocks in enumerate(STAGE_DEPTHS[self.depth]):
            extra = self.fusion_channels(fused[i]) if name == "slow" else 0
            stages.append(
                StageSpec(
                    dim_in=dim_in + extra,
                    dim_inner=self._width(name, STAGE_INNER[i]),
                    dim_out=self._width(name, STAGE_OUT[i]),
                    spatial_stride=STAGE_SPATIAL_STRIDES[i],
                    temporal_kernels=self._temporal_kernels(name, i, blocks),
                )
            )
            dim_in = stages[-1].dim_out
        return PathwaySpec(name, stem_dim, 1 if name == "slow" else 5, tuple(stages),
                           time_difference=name == "fast" and self.fast_input == "diff")

    def _temporal_kernels(self, name: str, stage: int, blocks: int) -> tuple[int, ...]:
        """conv_a temporal kernels: Slow has 1 in res2/res3 (paper: no early temporal convs), else 3."""
        if name == "slow" and stage < 2:
            return (1,) * blocks
        if stage == 2 and self.res4_temporal_blocks is not None:
            n = min(self.res4_temporal_blocks, blocks)
            return (3,) * n + (1,) * (blocks - n)
        return (3,) * blocks

    @property
    def head_in_features(self) -> int:
        """Channels of the concatenated pooled pathways fed to the classifier."""
        return sum(p.stages[-1].dim_out for p in self.pathway_specs())

    def replace(self, **overrides: object) -> "SlowFastConfig":
        """A copy with some fields changed (validated again); unknown fields raise ConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown model option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        return dataclasses.replace(self, **overrides)


PRESETS: dict[str, SlowFastConfig] = {
    c.name: c
    for c in (
        SlowFastConfig(name="slowfast_4x16_r50", slow_frames=4, tau=16, alpha=8, fusion_kernel=5),
        SlowFastConfig(name="slowfast_8x8_r50", aliases=("slowfast_r50",), fusion_kernel=7),
        SlowFastConfig(name="slowfast_8x8_r101", aliases=("slowfast_r101",), depth=101, fusion_kernel=5),
        SlowFastConfig(
            name="slowfast_16x8_r101_50_50", depth=101, slow_frames=16, tau=8, alpha=4, fusion_kernel=5,
            res4_temporal_blocks=6,
        ),
        # mmaction2's SlowFast (configs/recognition/slowfast): laterals without BN/ReLU, fusion kernel 5 for
        # 4x16 and 7 for 8x8 (R50 and R101 alike), res4 temporal throughout.
        SlowFastConfig(name="slowfast_4x16_r50_mmaction2", slow_frames=4, tau=16, alpha=8, fusion_kernel=5,
                       fusion_norm=False),
        SlowFastConfig(name="slowfast_8x8_r50_mmaction2", fusion_kernel=7, fusion_norm=False),
        SlowFastConfig(name="slowfast_8x8_r101_mmaction2", depth=101, fusion_kernel=7, fusion_norm=False),
        SlowFastConfig(name="slow_4x16_r50", slow_frames=4, tau=16, alpha=8, layout="slow", fusion="none"),
        SlowFastConfig(name="fast_32x2_r50", slow_frames=4, tau=16, alpha=8, layout="fast", fusion="none"),
        # Small networks for training on a 2-core CPU (synthetic actions, teaching): 1/8 width, one block per
        # stage, 70-pixel crops of 80-pixel frames; T x tau = 4 x 8 (a 32-frame, 1.07 s window), alpha 4.
        # beta = 1/4 rather than 1/8 so the Fast pathway keeps a few channels at this width.
        *(
            SlowFastConfig(name=f"{layout_name}_tiny", depth=14, width_div=8, input_size=80, slow_frames=4, tau=8,
                           alpha=4, beta_inv=4, layout=layout, fusion=fusion, fusion_kernel=5)
            for layout_name, layout, fusion in (("slowfast", "slowfast", "tconv"), ("slow", "slow", "none"),
                                                ("fast", "fast", "none"))
        ),
    )
}

#: the architecture a start without weights or --arch runs (predict, the window, teaching a session without one)
DEFAULT_ARCH = "slowfast_8x8_r50"
ALIASES: dict[str, str] = {a: c.name for c in PRESETS.values() for a in c.aliases}


def arch_names() -> list[str]:
    """Every accepted architecture name: presets first, then aliases."""
    return list(PRESETS) + list(ALIASES)


def get_config(name: str, **overrides: object) -> SlowFastConfig:
    """The preset `name` (or alias), with `overrides` applied. Unknown names raise ConfigError."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        raise ConfigError(f"unknown architecture {name!r}: use one of {', '.join(arch_names())}")
    return PRESETS[key].replace(**overrides) if overrides else PRESETS[key]
