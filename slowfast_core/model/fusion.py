"""Fast->Slow lateral connections (paper section 3.3 and Table 5a).

Each fusion module takes `[slow, fast]` and returns `[slow', fast]`, where slow' carries the Fast
pathway's features brought to Slow's frame rate:
- `tconv`: a (k x 1 x 1) conv with temporal stride alpha and fusion_ratio*beta*C outputs, BN, ReLU, concatenated
  (PySlowFast, PyTorchVideo); with `norm=False` the conv alone (mmaction2's `conv1_lateral`, `layerN_lateral`);
- `tsample`: every alpha-th Fast frame, concatenated;
- `ttoc_concat` / `ttoc_sum`: alpha consecutive Fast frames packed into channels, concatenated or summed.
"""

from __future__ import annotations

import torch
from torch import nn

from slowfast_core.errors import ConfigError
from slowfast_core.model.blocks import _bn


class FuseFastToSlow(nn.Module):
    """T-conv fusion: 3D conv with kernel (k, 1, 1) and stride (alpha, 1, 1), then BN and ReLU; concatenated.

    norm=False leaves out BN and ReLU: mmaction2 builds its lateral connections as a bare conv
    (`ConvModule(..., norm_cfg=None, act_cfg=None)`), and its checkpoints hold no lateral BN statistics.
    """

    def __init__(self, *, fast_dim: int, ratio: int, kernel: int, alpha: int, norm: bool = True) -> None:
        super().__init__()
        self.conv_fast_to_slow = nn.Conv3d(
            fast_dim, fast_dim * ratio, kernel_size=(kernel, 1, 1), stride=(alpha, 1, 1),
            padding=(kernel // 2, 0, 0), bias=False,
        )
        self.norm: nn.Module | None = _bn(fast_dim * ratio) if norm else None
        self.activation: nn.Module | None = nn.ReLU(inplace=True) if norm else None

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        slow, fast = x  # (B, C, T, H, W), (B, βC, αT, H, W)
        lateral = self.conv_fast_to_slow(fast)  # (B, 2βC, T, H, W)
        if self.norm is not None and self.activation is not None:
            lateral = self.activation(self.norm(lateral))
        return [torch.cat([slow, lateral], dim=1), fast]


class TimeStridedSample(nn.Module):
    """T-sample fusion: keep one Fast frame out of every alpha, concatenate to Slow."""

    def __init__(self, *, alpha: int) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        slow, fast = x  # (B, C, T, H, W), (B, βC, αT, H, W)
        lateral = fast[:, :, :: self.alpha]  # (B, βC, T, H, W)
        return [torch.cat([slow, lateral], dim=1), fast]


class TimeToChannel(nn.Module):
    """TtoC fusion: reshape (βC, αT) to (αβC, T), then concatenate to Slow or add to it."""

    def __init__(self, *, alpha: int, mode: str) -> None:
        super().__init__()
        if mode not in ("concat", "sum"):
            raise ConfigError(f"time-to-channel mode must be concat or sum, got {mode!r}")
        self.alpha = alpha
        self.mode = mode

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        slow, fast = x  # (B, C, T, H, W), (B, βC, αT, H, W)
        b, c, t, h, w = fast.shape
        lateral = fast.reshape(b, c, t // self.alpha, self.alpha, h, w)  # (B, βC, T, α, H, W)
        lateral = lateral.transpose(2, 3).reshape(b, c * self.alpha, t // self.alpha, h, w)  # (B, αβC, T, H, W)
        if self.mode == "sum":
            if lateral.shape[1] != slow.shape[1]:
                raise ConfigError(f"ttoc_sum needs alpha*beta*C == C, got {lateral.shape[1]} vs {slow.shape[1]}")
            return [slow + lateral, fast]
        return [torch.cat([slow, lateral], dim=1), fast]


def build_fusion(
    kind: str, *, fast_dim: int, ratio: int, kernel: int, alpha: int, norm: bool = True
) -> nn.Module | None:
    """The fusion module for `kind`, or None for no lateral connection. `norm`: BN + ReLU after a T-conv."""
    if kind == "tconv":
        return FuseFastToSlow(fast_dim=fast_dim, ratio=ratio, kernel=kernel, alpha=alpha, norm=norm)
    if kind == "tsample":
        return TimeStridedSample(alpha=alpha)
    if kind == "ttoc_concat":
        return TimeToChannel(alpha=alpha, mode="concat")
    if kind == "ttoc_sum":
        return TimeToChannel(alpha=alpha, mode="sum")
    if kind == "none":
        return None
    raise ConfigError(f"unknown fusion kind {kind!r}")
