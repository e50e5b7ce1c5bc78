"""`EngineSettings`: how the live engine runs (stride, top-k, smoothing, device, backend, mode, timeouts).

Validated once, at construction: a bad value is a one-line `ConfigError`, never a thread that dies later.
"""

from __future__ import annotations

from dataclasses import dataclass

from slowfast_core.errors import ConfigError
from slowfast_core.stream.smoothing import check_smoothing


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs. stride: seconds between windows (or frames, when stride_frames is set).

    smoothing: predictions averaged (1: none); threshold: below it the label is None ("no confident
    action"); hysteresis: margin against flicker (see stream.smoothing). realtime=False with an unpaced file
    runs every window like `slowfast predict`. stall_timeout_s: a source silent this long is reported
    (None: max(1 s, 8 frames)). reopen_backoff_s: first and longest wait between reopen attempts.
    """

    stride_s: float = 0.5
    topk: int = 5
    threshold: float = 0.2
    smoothing: int = 3
    hysteresis: float = 0.1
    device: str = "auto"
    backend: str = "auto"
    realtime: bool = True
    stride_frames: int | None = None
    warmup_runs: int = 1
    status_interval_s: float = 1.0
    buffer_margin_s: float = 1.0
    stall_timeout_s: float | None = None
    reopen_backoff_s: tuple[float, float] = (0.25, 4.0)
    features: bool = True  # each prediction carries its window's pooled feature (recorded for Teach)
    #: live: padded windows (marked as such) until the buffer covers a whole window, so the first prediction
    #: comes when the model is ready rather than a window's length of video later (see stream.scheduler)
    partial_windows: bool = True

    def __post_init__(self) -> None:
        if not self.stride_s > 0:
            raise ConfigError(f"stride must be positive, got {self.stride_s} s")
        if self.stride_frames is not None and self.stride_frames < 1:
            raise ConfigError(f"stride in frames must be at least 1, got {self.stride_frames}")
        if self.topk < 1:
            raise ConfigError(f"top-k must be at least 1, got {self.topk}")
        check_smoothing(window=self.smoothing, threshold=self.threshold, hysteresis=self.hysteresis)
        if self.warmup_runs < 0:
            raise ConfigError(f"warm-up runs must be >= 0, got {self.warmup_runs}")
        if not self.status_interval_s > 0 or self.buffer_margin_s < 0:
            raise ConfigError("status interval must be positive and buffer margin non-negative")
        low, high = self.reopen_backoff_s
        if not 0 < low <= high:
            raise ConfigError(f"reopen back-off must be 0 < first <= longest, got {self.reopen_backoff_s}")
