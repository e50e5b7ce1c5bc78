"""Per-pathway supervision: a classifier of its own on each pathway's pooled feature, trained beside the fused one.

Why. Training both pathways through one classifier lets the faster learner decide what the network learns: on the
pathways task the Slow pathway reads shape and finish within a few epochs, the fused loss falls to about ln 2 per
still/ticking pair, and in two of three 12-class runs the Fast pathway never learnt the tick (README, Teach). Fast-only,
with nothing to lean on, learnt it in every seed at the same recipe (Table 5a). This is the imbalance that Wang, Tran
and Feiszli describe for multi-modal networks ("What makes training multi-modal classification networks hard?",
CVPR 2020, Gradient-Blending): a loss on each pathway alone makes each one learn what it can see.

What. `PathwayHeads` wraps the network for training only: in train mode its forward returns the fused logits and one
set of logits per pathway (a linear classifier on that pathway's slice of the pooled feature, after the same
dropout); in eval mode it is the network. `pathway_loss` is the fused cross-entropy plus `weight` times each
pathway's. The saved model is the network alone: the extra classifiers live in the resume state only.
"""

from __future__ import annotations

import torch
from torch import nn

from slowfast_core.errors import ConfigError
from slowfast_core.model.net import SlowFast

#: what `slowfast train --pathway-loss` says to a model with one pathway (its own classifier is the fused one)
NEEDS_TWO_PATHWAYS = "--pathway-loss needs a two-pathway model (SlowFast): {arch} has one pathway; leave it out"


def pathway_widths(net: SlowFast) -> tuple[int, ...]:
    """Channels of each pathway's pooled feature, in the order `PathwayPool` concatenates them (Slow first)."""
    return tuple(spec.stages[-1].dim_out for spec in net.config.pathway_specs())


class PathwayHeads(nn.Module):
    """The network plus one linear classifier per pathway (training only; see the module docstring)."""

    def __init__(self, net: SlowFast, *, dropout: float) -> None:
        super().__init__()
        if net.num_pathways < 2:
            raise ConfigError(NEEDS_TWO_PATHWAYS.format(arch=net.config.name))
        self.net = net
        self.widths = pathway_widths(net)
        self.names = tuple(spec.name for spec in net.config.pathway_specs())  # ("slow", "fast")
        classes = net.output_features
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(c, classes) for c in self.widths)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        # train: [slow, fast] -> (fused (B, K), [per pathway (B, K)]); eval: fused (B, K) only
        feats = self.net.features(x)  # (B, C_slow + C_fast)
        fused = self.net.blocks[6](feats)
        if not self.training:
            return fused
        parts = torch.split(feats, list(self.widths), dim=1)  # [(B, C_p)]
        return fused, [head(self.dropout(part)) for head, part in zip(self.heads, parts)]


def pathway_loss(fused: torch.Tensor, per_pathway: list[torch.Tensor], labels: torch.Tensor,
                 weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss to minimise, the fused cross-entropy alone): the fused cross-entropy plus `weight` times each
    pathway's own (logits in float32). The second is what `train_loss` reports, comparable to `val_loss`."""
    fused_loss = nn.functional.cross_entropy(fused.float(), labels)
    loss = fused_loss
    for logits in per_pathway:
        loss = loss + weight * nn.functional.cross_entropy(logits.float(), labels)
    return loss, fused_loss.detach()
