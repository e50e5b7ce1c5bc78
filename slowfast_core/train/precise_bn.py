"""Precise BatchNorm: recompute every BN layer's running statistics over N training batches with the weights
as they are now (PySlowFast's `BN.NUM_BATCHES_PRECISE`, fvcore's `update_bn_stats`).

Why: during training a BN layer's running mean/var is an exponential average (momentum 0.1) of batch
statistics taken while the weights changed under it. With batches of 8-16 clips those statistics are noisy
and lag the weights, so validation (eval mode) sees statistics of an older network: the val loss jumps.
Before each validation and each saved checkpoint the loop calls `update_bn_stats`, which resets the running
statistics and sets `momentum=None`; PyTorch then keeps the *cumulative* average of the per-batch mean and
(unbiased) variance, i.e. with equal batches exactly the statistics of one pass over those N batches (the
mean is the full pass's mean; the variance is the mean of per-batch variances, as in PySlowFast).
With several processes each rank averages its own batches, then the ranks' averages are averaged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice

import torch
from torch import nn

#: Default batches for the recomputation when batches are small (`TrainConfig.precise_bn` = -1): a quarter of
#: an epoch, at least MIN_BATCHES and at most DEFAULT_BATCHES (PySlowFast uses 200 for Kinetics; an epoch of the
#: synthetic actions has 10-40 batches). Forward passes only, but each batch is decoded again: on the tiny
#: models a quarter epoch costs about 15% of the epoch's time.
DEFAULT_BATCHES = 10
MIN_BATCHES = 4
#: The last epoch's recomputation gives the statistics of the model that is kept (the run's final accuracy, its
#: last checkpoint): a whole epoch of batches, at most PySlowFast's 200. A quarter epoch of 16-clip batches
#: moved a fixed model's val top-1 over 88.8-93.8% between draws; a whole epoch over 92.5-93.8% (README).
FINAL_BATCHES = 200
#: Batches of at most this many clips per process count as small: precise BN is on by default for them.
SMALL_BATCH = 32


def bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer (1d/2d/3d, SyncBatchNorm) of `model` that tracks running statistics."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def default_batches(batch_size: int, requested: int, steps_per_epoch: int, *, final: bool = False) -> int:
    """Batches to use: `requested` when >= 0 (0 turns precise BN off); -1 (auto): for small batches a quarter
    of an epoch within [MIN_BATCHES, DEFAULT_BATCHES], or after the `final` epoch a whole one within
    [MIN_BATCHES, FINAL_BATCHES]; for large batches none."""
    if requested >= 0:
        return requested
    if batch_size > SMALL_BATCH:
        return 0
    if final:
        return max(MIN_BATCHES, min(FINAL_BATCHES, steps_per_epoch))
    return max(MIN_BATCHES, min(DEFAULT_BATCHES, steps_per_epoch // 4))


@torch.no_grad()
def update_bn_stats(model: nn.Module, batches: Iterable, num_batches: int,
                    forward: Callable[[nn.Module, object], None],
                    all_reduce_mean: Callable[[torch.Tensor], None] | None = None) -> int:
    """Recompute the running mean/var of every BN layer of `model` over up to `num_batches` of `batches`.

    `forward(model, batch)` runs the model on one batch (in train mode, here); `all_reduce_mean`, when given,
    averages a tensor across processes in place. Returns the number of batches used (0: nothing changed).
    The model's train/eval mode and each layer's momentum are restored; parameters are not touched.
    """
    layers = bn_layers(model)
    if not layers or num_batches <= 0:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in layers]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the plain mean over the batches seen
    model.train()
    used = 0
    try:
        for batch in islice(batches, num_batches):
            if forward(model, batch) is False:
                continue  # an empty batch (every clip unreadable)
            used += 1
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)
    if used == 0:  # nothing seen: keep the old statistics rather than the reset ones
        for m, (mean, var, count) in zip(layers, saved):
            m.running_mean.copy_(mean), m.running_var.copy_(var), m.num_batches_tracked.copy_(count)
        return 0
    if all_reduce_mean is not None:
        for m in layers:
            all_reduce_mean(m.running_mean)
            all_reduce_mean(m.running_var)
    return used
