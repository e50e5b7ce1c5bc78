"""Building blocks of each pathway: stem, bottleneck, residual block, res stage.

Attribute names follow PyTorchVideo's (`conv`, `norm`, `branch1_conv`, `branch2.conv_a` …) so that its
model-zoo `.pyth` state dicts load strictly into ours without a key map.
"""

from __future__ import annotations

import torch
from torch import nn

from slowfast_core.model.config import StageSpec

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def _bn(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class Stem(nn.Module):
    """conv (kt x 7 x 7, spatial stride 2) -> BN -> ReLU -> max-pool (1 x 3 x 3, spatial stride 2).

    time_difference: the conv sees each frame minus the one before it (zero for the first), not the frames: the
    paper's Table 5c input for the Fast pathway. No parameters change, so state dicts are the same either way.
    """

    def __init__(self, *, dim_out: int, temporal_kernel: int, dim_in: int = 3, time_difference: bool = False) -> None:
        super().__init__()
        self.time_difference = time_difference
        self.conv = nn.Conv3d(
            dim_in, dim_out, kernel_size=(temporal_kernel, 7, 7), stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3), bias=False,
        )
        self.norm = _bn(dim_out)
        self.activation = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, 3, T, H, W) -> (B, C, T, H/4, W/4)
        if self.time_difference:
            x = frame_differences(x)
        return self.pool(self.activation(self.norm(self.conv(x))))


def frame_differences(x: torch.Tensor) -> torch.Tensor:
    """Each frame minus the one before it, the first frame's difference zero: what changed, nothing that stays.

    Slices and a subtraction only, so tracing, ONNX and OpenVINO export it as they do the rest of the stem."""
    # (B, C, T, H, W) -> (B, C, T, H, W)
    return torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, 1:] - x[:, :, :-1]], dim=2)


class Bottleneck(nn.Module):
    """conv_a (kt x 1 x 1) -> conv_b (1 x 3 x 3, spatial stride, dilation) -> conv_c (1 x 1 x 1), BN after each."""

    def __init__(self, *, dim_in: int, dim_inner: int, dim_out: int, temporal_kernel: int, stride: int,
                 dilation: int = 1) -> None:
        super().__init__()
        self.conv_a = nn.Conv3d(
            dim_in, dim_inner, kernel_size=(temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0), bias=False
        )
        self.norm_a = _bn(dim_inner)
        self.act_a = nn.ReLU(inplace=True)
        self.conv_b = nn.Conv3d(
            dim_inner, dim_inner, kernel_size=(1, 3, 3), stride=(1, stride, stride), padding=(0, dilation, dilation),
            dilation=(1, dilation, dilation), bias=False,
        )
        self.norm_b = _bn(dim_inner)
        self.act_b = nn.ReLU(inplace=True)
        self.conv_c = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
        self.norm_c = _bn(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C_in, T, H, W) -> (B, C_out, T, H/stride, W/stride)
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class ResBlock(nn.Module):
    """Bottleneck plus shortcut (a strided 1x1x1 projection when the shape changes), then ReLU."""

    def __init__(self, *, dim_in: int, dim_inner: int, dim_out: int, temporal_kernel: int, stride: int,
                 dilation: int = 1) -> None:
        super().__init__()
        self.branch1_conv: nn.Conv3d | None = None
        self.branch1_norm: nn.BatchNorm3d | None = None
        if dim_in != dim_out or stride != 1:
            self.branch1_conv = nn.Conv3d(dim_in, dim_out, kernel_size=1, stride=(1, stride, stride), bias=False)
            self.branch1_norm = _bn(dim_out)
        self.branch2 = Bottleneck(
            dim_in=dim_in, dim_inner=dim_inner, dim_out=dim_out, temporal_kernel=temporal_kernel, stride=stride,
            dilation=dilation,
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C_in, T, H, W) -> (B, C_out, T, H', W')
        shortcut = x
        if self.branch1_conv is not None and self.branch1_norm is not None:
            shortcut = self.branch1_norm(self.branch1_conv(x))
        return self.activation(shortcut + self.branch2(x))


class ResStage(nn.Module):
    """A sequence of ResBlocks; the first one changes width and applies the stage's spatial stride."""

    def __init__(self, spec: StageSpec) -> None:
        super().__init__()
        blocks = []
        for i, kt in enumerate(spec.temporal_kernels):
            blocks.append(
                ResBlock(
                    dim_in=spec.dim_in if i == 0 else spec.dim_out,
                    dim_inner=spec.dim_inner,
                    dim_out=spec.dim_out,
                    temporal_kernel=kt,
                    stride=spec.spatial_stride if i == 0 else 1,
                    dilation=spec.dilation,
                )
            )
        self.res_blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C_in, T, H, W) -> (B, C_out, T, H/stride, W/stride)
        for block in self.res_blocks:
            x = block(x)
        return x
