"""Precise BN: the running statistics after `update_bn_stats` are those of one pass over the batches
(the cumulative average of every batch's mean and unbiased variance, PySlowFast's NUM_BATCHES_PRECISE)."""

from __future__ import annotations

import torch
from torch import nn

from slowfast_core.weights.api import create_model
from slowfast_core.train.precise_bn import bn_layers, default_batches, update_bn_stats


def _batches(n: int, size: int = 3) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    # (B, 3, T, H, W) per pathway of slowfast_tiny: Slow 4 frames, Fast 16; 48-pixel frames keep it small
    return [[torch.rand(size, 3, 4, 48, 48, generator=g) * (1 + k), torch.rand(size, 3, 16, 48, 48, generator=g)]
            for k in range(n)]


def _forward(model: nn.Module, batch: list[torch.Tensor]) -> bool:
    model(batch)
    return True


def test_statistics_are_those_of_a_full_pass_over_the_batches() -> None:
    torch.manual_seed(0)
    model = create_model("slowfast_tiny", num_classes=4)
    model.train()
    layers = bn_layers(model)
    assert len(layers) > 20
    seen: dict[nn.Module, list[torch.Tensor]] = {m: [] for m in layers}  # each BN's input, per batch
    hooks = [m.register_forward_pre_hook(lambda m, inp: seen[m].append(inp[0].detach().clone())) for m in layers]
    batches = _batches(4)
    params = [p.detach().clone() for p in model.parameters()]
    momenta = [m.momentum for m in layers]
    used = update_bn_stats(model, iter(batches), 10, _forward)
    for h in hooks:
        h.remove()
    assert used == 4  # all there were, fewer than asked
    for m in layers:
        xs = seen[m]
        assert len(xs) == 4
        dims = [0, 2, 3, 4]
        want_mean = torch.stack([x.mean(dim=dims) for x in xs]).mean(0)
        want_var = torch.stack([x.var(dim=dims, unbiased=True) for x in xs]).mean(0)
        torch.testing.assert_close(m.running_mean, want_mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(m.running_var, want_var, rtol=1e-4, atol=1e-5)
    # the first BN sees the raw clips through the stem conv: its mean is the full pass's mean exactly
    first, xs = layers[0], seen[layers[0]]
    torch.testing.assert_close(first.running_mean, torch.cat(xs).mean(dim=[0, 2, 3, 4]), rtol=1e-4, atol=1e-5)
    assert [m.momentum for m in layers] == momenta  # restored
    assert all(torch.equal(a, b) for a, b in zip(params, model.parameters()))  # weights untouched
    assert model.training


def test_an_exponential_average_would_not_match() -> None:
    """The recomputation does not depend on the statistics before it (they are reset), unlike momentum 0.1."""
    torch.manual_seed(0)
    a = create_model("slow_tiny", num_classes=4)
    b = create_model("slow_tiny", num_classes=4)
    b.load_state_dict(a.state_dict())
    for m in bn_layers(b):
        m.running_mean.fill_(5.0)
        m.running_var.fill_(9.0)
        m.num_batches_tracked.fill_(50)  # as after 50 training steps
    slow_only = [[x[0]] for x in _batches(3)]
    update_bn_stats(a, iter(slow_only), 3, _forward)
    update_bn_stats(b, iter(slow_only), 3, _forward)
    for ma, mb in zip(bn_layers(a), bn_layers(b)):
        torch.testing.assert_close(ma.running_mean, mb.running_mean)
        torch.testing.assert_close(ma.running_var, mb.running_var)


def test_eval_mode_is_restored_and_no_batches_changes_nothing() -> None:
    model = create_model("slow_tiny", num_classes=4).eval()
    before = [m.running_mean.clone() for m in bn_layers(model)]
    assert update_bn_stats(model, iter([]), 5, _forward) == 0
    assert not model.training
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, bn_layers(model)))


def test_on_by_default_for_small_batches_only() -> None:
    assert default_batches(16, -1, steps_per_epoch=20) == 5  # a quarter epoch
    assert default_batches(16, -1, steps_per_epoch=2) == 4 and default_batches(8, -1, steps_per_epoch=400) == 10
    assert default_batches(64, -1, steps_per_epoch=20) == 0
    assert default_batches(64, 7, steps_per_epoch=20) == 7 and default_batches(8, 0, steps_per_epoch=20) == 0
    # after the last epoch: a whole epoch, within [4, 200] (the kept model's statistics)
    assert default_batches(16, -1, steps_per_epoch=20, final=True) == 20
    assert default_batches(16, -1, steps_per_epoch=2, final=True) == 4
    assert default_batches(8, -1, steps_per_epoch=900, final=True) == 200
    assert default_batches(64, -1, steps_per_epoch=20, final=True) == 0
    assert default_batches(16, 7, steps_per_epoch=20, final=True) == 7
