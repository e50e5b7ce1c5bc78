"""Small value types shared by the model, the weights registry and the video pipeline.

`ClipGeometry` says which frames a model wants (T, tau, alpha and which pathways); `Preprocessing` says how
each frame is scaled and normalised. A weights entry carries both, so a checkpoint cannot be paired with
the wrong settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from slowfast_core.errors import ConfigError

PathwayLayout = Literal["slowfast", "slow", "fast"]
CropMode = Literal["center", "full"]

#: Frame rate the Kinetics models were trained at: a window spans T*tau frames *at this rate*.
REFERENCE_FPS = 30.0
#: The input short sides the network takes, in pixels. The network downsamples by 32 (stem conv, stem pool,
#: res3-res5), so 32 is the least that leaves one position for the global pool; the Kinetics weights were
#: trained at 224-256 and lose most of their accuracy below 112. Above 1024 a clip no longer fits in memory
#: on ordinary machines (a 16x8 R101 window at 1024 needs ~20 GB). Every size option checks against these.
MIN_SHORT_SIDE = 32
MAX_SHORT_SIDE = 1024


def check_short_side(size: int, what: str = "short side") -> int:
    """`size` when it is a usable input short side (MIN_SHORT_SIDE..MAX_SHORT_SIDE), else ConfigError with one
    line naming `what` (the option, e.g. "--size") and the range: the one rule for every size option."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SHORT_SIDE <= size <= MAX_SHORT_SIDE:
        how = "too small" if isinstance(size, (int, float)) and size < MIN_SHORT_SIDE else "too large" \
            if isinstance(size, (int, float)) else "not a whole number"
        raise ConfigError(f"{what} {size} is {how}: the input short side must be {MIN_SHORT_SIDE} to "
                          f"{MAX_SHORT_SIDE} pixels (224 or 256 for the Kinetics weights; 112 and up keeps most "
                          "of their accuracy)")
    return size


@dataclass(frozen=True)
class PathwayClip:
    """Frames one pathway takes from a window: `frames` frames, `stride` reference frames apart."""

    name: Literal["slow", "fast"]
    frames: int
    stride: float


@dataclass(frozen=True)
class ClipGeometry:
    """Temporal geometry of a model's input.

    SlowFast: Slow takes T frames with stride tau; Fast takes alpha*T frames with stride tau/alpha. The window
    spans T*tau frames of 30 fps video. Slow-only uses the Slow clip alone; Fast-only the Fast clip alone.
    """

    slow_frames: int  # T
    tau: int
    alpha: int
    layout: PathwayLayout = "slowfast"

    def __post_init__(self) -> None:
        if self.slow_frames < 1 or self.tau < 1 or self.alpha < 1:
            raise ConfigError(f"clip geometry needs T, tau, alpha >= 1, got {self}")
        if self.layout not in ("slowfast", "slow", "fast"):
            raise ConfigError(f"unknown pathway layout {self.layout!r}: use slowfast, slow or fast")

    @property
    def fast_frames(self) -> int:
        """alpha * T: the number of frames the Fast pathway sees."""
        return self.alpha * self.slow_frames

    @property
    def window_frames(self) -> int:
        """T * tau: how many reference-rate (30 fps) frames one window spans."""
        return self.slow_frames * self.tau

    @property
    def window_seconds(self) -> float:
        """The window's span in seconds at the reference rate."""
        return self.window_frames / REFERENCE_FPS

    def pathways(self) -> tuple[PathwayClip, ...]:
        """The clips the model's forward expects, in input order."""
        slow = PathwayClip("slow", self.slow_frames, float(self.tau))
        fast = PathwayClip("fast", self.fast_frames, self.tau / self.alpha)
        if self.layout == "slow":
            return (slow,)
        if self.layout == "fast":
            return (fast,)
        return (slow, fast)


@dataclass(frozen=True)
class Preprocessing:
    """Per-frame preprocessing, as the anchors do it: RGB, /255, (x - mean) / std, short side, crop."""

    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    short_side: int = 256
    crop: CropMode = "center"

    def __post_init__(self) -> None:
        check_short_side(self.short_side)
        if self.crop not in ("center", "full"):
            raise ConfigError(f"unknown crop mode {self.crop!r}: use center or full")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"std must be positive, got {self.std}")


@dataclass(frozen=True)
class ModelMeta:
    """What a model instance knows about itself beyond its architecture.

    `weights` is the registry name or file the parameters came from (None: untrained, random weights);
    `categories` name the output classes in logit order.
    """

    categories: tuple[str, ...]
    preprocessing: Preprocessing = Preprocessing()
    weights: str | None = None

    @property
    def trained(self) -> bool:
        """False for random weights: predictions are meaningless."""
        return self.weights is not None
