"""BatchNorm folding: each eval-mode BatchNorm3d that follows a Conv3d becomes part of that conv's weights.

In eval mode BN is an affine map per channel, y = (x - mean) / sqrt(var + eps) * gamma + beta, so
conv -> BN equals one conv with scaled weights and a bias. Folding removes a full pass over every
activation tensor (there is one BN per conv in SlowFast), which is pure memory traffic on a CPU.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: (conv attribute, norm attribute) pairs as named in slowfast_core.model (and PyTorchVideo).
CONV_NORM_PAIRS: tuple[tuple[str, str], ...] = (
    ("conv", "norm"),  # Stem
    ("conv_a", "norm_a"),  # Bottleneck
    ("conv_b", "norm_b"),
    ("conv_c", "norm_c"),
    ("branch1_conv", "branch1_norm"),  # ResBlock projection shortcut
    ("conv_fast_to_slow", "norm"),  # FuseFastToSlow
)


def fold_batchnorm(model: nn.Module, *, inplace: bool = False) -> tuple[nn.Module, int]:
    """Return (model with every conv->BN pair folded into the conv, number of pairs folded).

    The model must be in eval mode (folding uses the running statistics). Each folded BN is replaced by
    `nn.Identity`, so the module tree and the forward code stay the same. Unless `inplace`, the input
    model is left untouched (a deep copy is folded).
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode: call model.eval() first")
    if not inplace:
        model = copy.deepcopy(model)
    folded = 0
    for module in list(model.modules()):
        for conv_name, norm_name in CONV_NORM_PAIRS:
            conv = getattr(module, conv_name, None)
            norm = getattr(module, norm_name, None)
            if isinstance(conv, nn.Conv3d) and isinstance(norm, nn.BatchNorm3d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, norm))
                setattr(module, norm_name, nn.Identity())
                folded += 1
    return model, folded


def count_batchnorm(model: nn.Module) -> int:
    """How many BatchNorm layers are left (0 after folding a SlowFast model)."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
