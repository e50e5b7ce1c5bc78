"""Multiply-add and parameter counts, measured from the built model (the paper's "FLOPs" are multiply-adds).

Counted: every Conv3d and Linear (kernel volume x input channels per group x output elements). Not counted:
BN, ReLU, pooling, additions, as in the paper's and fvcore's conventions for these networks.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from slowfast_core.model.net import SlowFast


@dataclass(frozen=True)
class CostReport:
    """The cost of one clip: multiply-adds (G), parameters (M), and the input shape per pathway."""

    arch: str
    size: int
    gmacs: float
    mparams: float
    inputs: tuple[tuple[int, ...], ...]


def example_inputs(model: SlowFast, size: int, batch: int = 1) -> list[torch.Tensor]:
    """Zero clips of the model's geometry at `size` x `size`: [(B, 3, T_p, size, size) per pathway]."""
    return [torch.zeros(batch, 3, clip.frames, size, size) for clip in model.config.geometry.pathways()]


def count_macs(model: nn.Module, inputs: list[torch.Tensor]) -> int:
    """Multiply-adds of one forward pass over `inputs`, counted with forward hooks on Conv3d and Linear."""
    total = 0

    def conv_hook(m: nn.Conv3d, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        kt, kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kt * kh * kw

    def linear_hook(m: nn.Linear, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.inference_mode():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def count_params(model: nn.Module) -> int:
    """Number of learnable parameters."""
    return sum(p.numel() for p in model.parameters())


def cost_report(model: SlowFast, size: int = 256) -> CostReport:
    """Multiply-adds and parameters of one `size` x `size` clip through `model`.

    Runs on the "meta" device (shapes only, no arithmetic), so counting the largest model takes milliseconds.
    """
    model = copy.deepcopy(model).to("meta").eval()
    inputs = [t.to("meta") for t in example_inputs(model, size)]
    return CostReport(
        arch=model.config.name,
        size=size,
        gmacs=count_macs(model, inputs) / 1e9,
        mparams=count_params(model) / 1e6,
        inputs=tuple(tuple(t.shape) for t in inputs),
    )
