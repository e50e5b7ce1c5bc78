"""Checkpoint-test helpers: reference models with non-trivial BN statistics, so that logits carry signal and
the logit tolerance means something."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

LOGIT_TOL = 1e-4  # the bar our loaded checkpoints are held to against their reference's logits


def randomise_(model: nn.Module, run_backbone: Callable[[], object], seed: int = 0) -> None:
    """Give `model` random BN affine parameters and running statistics and a random linear head.

    The running statistics come from one train-mode pass of `run_backbone` (a random clip) and are then
    perturbed: calibrated stats keep activations O(1) through 100+ BN layers, so logits are ~10 and an absolute
    1e-4 tolerance means something; uncalibrated random stats blow logits up to ~1e5.
    """
    torch.manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch the running stats are that batch's
        model.train()
        run_backbone()
        model.eval()
        for m in bns:
            m.momentum = 0.1
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn_like(m.running_mean))
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 0.05)
                m.bias.normal_(0.0, 0.1)
    # BN must not be (close to) the identity, or a swapped running_mean/running_var would go unnoticed
    assert max(float((m.running_var - 1).abs().max()) for m in bns) > 0.5
    assert max(float(m.running_mean.abs().max()) for m in bns) > 0.5
