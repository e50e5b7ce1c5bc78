"""Multiply-add and parameter counts, measured from the built model (the paper's "FLOPs" are multiply-adds).

Counted: every Conv3d and Linear (kernel volume x input channels per group x output elements). Not counted:
BN, ReLU, pooling, additions, as in the paper's and fvcore's conventions for these networks.

Per pathway (`pathway_report`): each conv belongs to the pathway whose stem/stages hold it; the lateral
Fast->Slow connections (their T-conv) are a part of their own, `lateral`, and the classifier is `head`.
The paper's "the Fast pathway takes ~20% of total computation" counts the laterals with the Slow pathway
that receives them: its Table 5a gives Slow-only 27.3, SlowFast without laterals 34.2 and with T-conv
laterals 36.1 GFLOPs, so Fast alone is 34.2 - 27.3 = 6.9 = 19% of 36.1, and the 1.9 the laterals add (their
convs plus the wider inputs of Slow's stages) sit on the Slow side. `slow_share` follows that convention.
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


def macs_by_module(model: nn.Module, inputs: list[torch.Tensor]) -> dict[str, int]:
    """Multiply-adds of one forward pass over `inputs` per Conv3d/Linear module (by qualified name)."""
    counts: dict[str, int] = {}

    def hook(name: str):
        def count(m: nn.Module, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
            if isinstance(m, nn.Conv3d):
                kt, kh, kw = m.kernel_size
                macs = out.numel() * (m.in_channels // m.groups) * kt * kh * kw
            else:
                macs = out.numel() * m.in_features  # type: ignore[operator]
            counts[name] = counts.get(name, 0) + macs
        return count

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()
               if isinstance(m, (nn.Conv3d, nn.Linear))]
    try:
        with torch.inference_mode():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    return counts


def count_macs(model: nn.Module, inputs: list[torch.Tensor]) -> int:
    """Multiply-adds of one forward pass over `inputs`, counted with forward hooks on Conv3d and Linear."""
    return sum(macs_by_module(model, inputs).values())


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


@dataclass(frozen=True)
class PathwayCost:
    """One clip's multiply-adds (G) split by part, and the paper's shares (laterals with Slow; see above)."""

    arch: str
    size: int
    slow: float
    fast: float
    lateral: float
    head: float

    @property
    def total(self) -> float:
        return self.slow + self.fast + self.lateral + self.head

    @property
    def slow_share(self) -> float:
        """(Slow + laterals) / total: the paper's Slow side."""
        return (self.slow + self.lateral) / self.total

    @property
    def fast_share(self) -> float:
        """Fast / total: the paper's "~20%"."""
        return self.fast / self.total

    def to_json(self) -> dict:
        return {"arch": self.arch, "size": self.size, "slow_gmacs": self.slow, "fast_gmacs": self.fast,
                "lateral_gmacs": self.lateral, "head_gmacs": self.head, "total_gmacs": self.total,
                "slow_share": self.slow_share, "fast_share": self.fast_share, "laterals_counted_with": "slow"}


def part_of(name: str, pathway_names: tuple[str, ...]) -> str:
    """Which part a module of `SlowFast` belongs to: a pathway's name, "lateral" or "head".

    Names: blocks.<stage>.multipathway_blocks.<p>.* (pathway p of the layout), blocks.<stage>.multipathway_fusion.*
    (the Fast->Slow laterals), blocks.6.* (the classifier)."""
    parts = name.split(".")
    if len(parts) >= 4 and parts[2] == "multipathway_blocks":
        return pathway_names[int(parts[3])]
    if len(parts) >= 3 and parts[2] == "multipathway_fusion":
        return "lateral"
    return "head"


def pathway_report(model: SlowFast, size: int) -> PathwayCost:
    """Multiply-adds of one `size` x `size` clip per part of `model` (on the meta device: shapes only)."""
    model = copy.deepcopy(model).to("meta").eval()
    inputs = [t.to("meta") for t in example_inputs(model, size)]
    names = tuple(p.name for p in model.config.pathway_specs())
    parts = {"slow": 0, "fast": 0, "lateral": 0, "head": 0}
    for name, macs in macs_by_module(model, inputs).items():
        parts[part_of(name, names)] += macs
    return PathwayCost(arch=model.config.name, size=size, **{k: v / 1e9 for k, v in parts.items()})
