"""What `slowfast predict` is asked for (`PredictOptions`, the parsed command line) and the checks made before
any model is built, shared by a single video's run (`commands/predict.py`) and folder runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from slowfast_core.commands.predict_output import FORMATS
from slowfast_core.errors import ConfigError
from slowfast_core.spec import Preprocessing, check_short_side

if TYPE_CHECKING:
    from slowfast_core.commands.predict_segments import SegmentOptions


@dataclass(frozen=True)
class PredictOptions:
    """Everything `slowfast predict` needs besides the video path (the parsed command line)."""

    arch: str | None = None
    weights: str | None = None
    stride: str | None = None
    topk: int = 5
    size: int | None = None
    crop: str | None = None
    device: str = "auto"
    backend: str = "auto"
    format: str = "text"
    progress: bool = True
    annotate: str | None = None
    segments: "SegmentOptions | None" = None  # --segments, --srt, --vtt and the smoothing


def check_options(options: PredictOptions) -> float | None:
    """Validate what can be checked without a model; returns the stride in seconds (None: the default)."""
    from slowfast_core.backends.base import resolve_device
    from slowfast_core.video.windows import parse_stride

    if options.format not in FORMATS:
        raise ValueError(f"unknown output format {options.format!r}")
    if options.topk < 1:
        raise ConfigError(f"--topk {options.topk} must be 1 or more")
    if options.size is not None:
        check_short_side(options.size, "--size")
    resolve_device(options.device)  # ConfigError for an unknown device or CUDA without a GPU
    return parse_stride(options.stride) if options.stride is not None else None


def options_preprocessing(base: Preprocessing, options: PredictOptions) -> Preprocessing:
    """The model's preprocessing with --size and --crop applied."""
    if options.size is not None:
        base = replace(base, short_side=options.size)
    if options.crop is not None:
        base = replace(base, crop=options.crop)
    return base
