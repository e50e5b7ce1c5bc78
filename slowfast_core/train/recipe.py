"""The training recipe: every setting of a run in one dataclass, its per-model defaults, the LR schedule and
the optimiser's parameter groups (the paper's, via PySlowFast's defaults).

SGD with momentum 0.9 and weight decay 1e-4 (none on BN parameters and biases), a linear warm-up then a
half-period cosine, dropout 0.5 before the classifier, BN in train mode or frozen for small batches.
The learning rate scales linearly with the global batch: PySlowFast's 0.1 for 64 clips, for every preset (here
`lr` is for the batch given). The tiny presets once ran at twice that rate (0.05 for 16 clips): on the
pathways task SlowFast diverged in its warm-up (training loss above chance for epochs) and never recovered, and
a 10-minute run's validation jumped by 16 points. At the paper's rate that run met its steadiness goals;
SlowFast still rose above chance in the warm-up on some seeds (README, Table 5a), through the classifier:
`head_lr_mult` (the classifier's rate as a multiple, `parameter_groups`) at 0.1 keeps it under chance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from torch import nn

from slowfast_core.errors import ConfigError

TrainMode = Literal["all", "last", "head"]

#: With --minutes and no --epochs, the time decides: this many epochs is only an upper bound.
TIME_BOUND_EPOCHS = 10_000
#: PyTorch's SyncBatchNorm runs only on GPU modules: on the CPU `--sync-bn` is refused before anything starts
SYNC_BN_NEEDS_CUDA = "--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm runs only on GPU modules): leave it out here"


@dataclass
class TrainConfig:
    """One training run. `data` are dataset paths; `out` the run folder."""

    data: list[str]
    out: str
    arch: str = "slowfast_tiny"
    beta_inv: int = 0  # 1/beta of a model built from scratch; 0: the arch's (Table 5b varies it)
    fast_min_channels: int = 0  # from scratch: a floor on the Fast pathway's widths (SlowFastConfig); 0: the arch's
    fast_input: str = ""  # from scratch: "rgb" or "diff" (SlowFastConfig.fast_input, Table 5c); "": the arch's
    init: str | None = None  # weights to start from (registry name or checkpoint); None: from scratch
    train: TrainMode = "all"
    epochs: int = 0  # 0: the arch's default
    minutes: float | None = None  # stop at the first epoch boundary past this many minutes
    batch_size: int = 0  # per process; 0: the arch's default
    lr: float = 0.0  # for the global batch; 0: the arch's default
    head_lr_mult: float = 1.0  # the classifier's learning rate as a multiple of `lr` (Table 5a: 0.1)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: float = -1.0  # -1: the arch's default
    dropout: float = 0.5
    frozen_bn: bool = False
    sync_bn: bool = False
    scale: tuple[int, int] | None = None  # train short side range; None: [s, 1.25 s] for input size s
    crop: int | None = None  # train crop; None: 7/8 of the input size
    flip: bool = True
    background: bool = True
    val_fraction: float = 0.2
    seed: int = 0
    workers: int = -1  # DataLoader workers per process; -1: automatic
    device: str = "auto"
    amp: bool = True  # on CUDA: bf16 where supported, else fp16 with a gradient scaler
    resume: bool = False
    views: int = 4  # head mode: clips per training example whose features are cached
    tensorboard: bool = False  # also write TensorBoard events to RUN/runs-<dataset> (train.tensorboard)
    precise_bn: int = -1  # batches to recompute BN statistics over before validation; -1: auto; 0: off
    budget_clock: Literal["wall", "cpu"] = "wall"  # what --minutes counts: wall-clock or this process's CPU time
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ArchDefaults:
    """What a preset was made to train with (its input size comes from the model config)."""

    epochs: int
    batch_size: int
    lr: float  # for `batch_size` clips
    warmup_epochs: float


#: PySlowFast's Kinetics learning rate and the batch it is for: every preset's rate is this per clip.
PYSLOWFAST_LR, PYSLOWFAST_BATCH = 0.1, 64


def paper_lr(batch_size: int) -> float:
    """PySlowFast's learning rate scaled linearly to `batch_size` clips."""
    return PYSLOWFAST_LR * batch_size / PYSLOWFAST_BATCH


#: The tiny presets' epochs and warm-up were chosen on the synthetic actions (2-core CPU); the full ones follow
#: PySlowFast's Kinetics recipe (196 epochs, 34 warm-up epochs), scaled to one machine's batch.
DEFAULTS: dict[str, ArchDefaults] = {
    "tiny": ArchDefaults(epochs=30, batch_size=16, lr=paper_lr(16), warmup_epochs=2),
    "full": ArchDefaults(epochs=196, batch_size=8, lr=paper_lr(8), warmup_epochs=34),
    "finetune": ArchDefaults(epochs=20, batch_size=8, lr=0.005, warmup_epochs=1),
}


#: The classifier multiplier of the README's from-scratch runs on the pathways task (Table 5a, the teach bench's
#: backbone): at 1 the warm-up rose above chance on 2 of 3 SlowFast seeds and they stalled; at 0.1 none did.
FROM_SCRATCH_HEAD_LR_MULT = 0.1


def arch_defaults(arch: str, *, finetune: bool) -> ArchDefaults:
    """Defaults for `arch` (tiny presets by name), with shorter, gentler ones when fine-tuning."""
    if arch.endswith("_tiny"):
        base = DEFAULTS["tiny"]
        return ArchDefaults(base.epochs // 2, base.batch_size, base.lr / 5, 1) if finetune else base
    return DEFAULTS["finetune"] if finetune else DEFAULTS["full"]


def resolve(config: TrainConfig, world_size: int = 1) -> TrainConfig:
    """`config` with its zero/automatic fields filled from the arch's defaults; ConfigError for bad values."""
    d = arch_defaults(config.arch, finetune=config.init is not None)
    if config.epochs == 0:
        config.epochs = TIME_BOUND_EPOCHS if config.minutes is not None else d.epochs
    if config.batch_size == 0:
        config.batch_size = d.batch_size
    if config.lr == 0.0:
        config.lr = d.lr * world_size  # linear scaling with the global batch
    if config.warmup_epochs < 0:
        config.warmup_epochs = d.warmup_epochs
    if config.epochs < 1:
        raise ConfigError(f"--epochs {config.epochs} must be at least 1")
    if config.batch_size < 1:
        raise ConfigError(f"--batch-size {config.batch_size} must be at least 1")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        raise ConfigError(f"--lr {config.lr} must be a positive number")
    if not (config.head_lr_mult > 0 and math.isfinite(config.head_lr_mult)):
        raise ConfigError(f"--head-lr-mult {config.head_lr_mult} must be a positive number (1: the same as --lr)")
    if config.precise_bn < -1:
        raise ConfigError(f"--precise-bn {config.precise_bn} must be a number of batches (0: off)")
    if config.budget_clock not in ("wall", "cpu"):
        raise ConfigError(f"budget clock {config.budget_clock!r} must be wall or cpu")
    if config.minutes is not None and not config.minutes > 0:
        raise ConfigError(f"--minutes {config.minutes} must be positive")
    if config.train != "all" and config.init is None:
        raise ConfigError(f"--train {config.train} needs --init WEIGHTS (a trained backbone to keep)")
    if config.scale is not None and not (32 <= config.scale[0] <= config.scale[1] <= 1024):
        raise ConfigError(f"--scale {config.scale} must be two sizes lo <= hi in 32..1024")
    return config


def lr_at(step: float, *, total_steps: float, warmup_steps: float, base_lr: float) -> float:
    """Linear warm-up from base_lr/100 to base_lr, then half-period cosine down to 0 at `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        start = base_lr * 0.01
        return start + (base_lr - start) * step / warmup_steps
    progress = (step - warmup_steps) / max(1.0, total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def classifier_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The final Linear classifier's weight and bias (`blocks[-1].proj`); [] for a model without one."""
    blocks = getattr(model, "blocks", None)
    proj = getattr(blocks[-1], "proj", None) if blocks is not None and len(blocks) else None
    return list(proj.parameters()) if isinstance(proj, nn.Linear) else []


def parameter_groups(model: nn.Module, weight_decay: float, head_lr_mult: float = 1.0) -> list[dict]:
    """Trainable parameters in groups: with weight decay, and without it (BN parameters and biases); with
    `head_lr_mult` != 1 the classifier's two in groups of their own. Each group's `lr_mult` scales the
    scheduled rate (the loop sets `lr = lr_at(...) * lr_mult`).

    Why a classifier multiplier: pooled ReLU features are all positive, so one SGD step on the classifier moves
    every clip's class-k logit by about lr * (p_k - y_k) * |f|^2 in the same direction, a class prior that a
    batch of 16 clips swings; with |f| ~ 10 (the tiny presets) and momentum 0.9 that swing is several logits
    per step, and on the pathways task the training loss rose above chance in the warm-up (README, Table 5a)."""
    head = {id(p) for p in classifier_parameters(model)} if head_lr_mult != 1.0 else set()
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_norm = isinstance(module, nn.modules.batchnorm._BatchNorm)
            groups.setdefault((not (is_norm or name == "bias"), id(p) in head), []).append(p)
    return [{"params": params, "weight_decay": weight_decay if decay else 0.0,
             "lr_mult": head_lr_mult if is_head else 1.0}
            for (decay, is_head), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1]))]


def set_trainable(model: nn.Module, mode: TrainMode) -> None:
    """Freeze all but what `mode` trains: all, last (res5 + head) or head (the classifier)."""
    net = getattr(model, "module", model)
    for p in net.parameters():
        p.requires_grad = mode == "all"
    if mode == "all":
        return
    trained = [net.blocks[6]] + ([net.blocks[4]] if mode == "last" else [])
    for block in trained:
        for p in block.parameters():
            p.requires_grad = True


def freeze_bn(model: nn.Module, frozen_modules: bool = False) -> None:
    """Put BN layers in eval mode (running statistics fixed): for small batches, or frozen backbones."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
