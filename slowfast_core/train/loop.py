"""The training loop: one function, `train`, from a TrainConfig to a run folder.

```
RUN/checkpoint_last.pyth   model + metadata + train_state (optimizer, epoch, step, RNG, history): --resume
RUN/checkpoint_best.pyth   the epoch with the best val top-1 (model + metadata): --weights anywhere
RUN/metrics.jsonl          per epoch: loss, train/val top-1, lr, clips/s, seconds
RUN/confusion.csv          the best epoch's validation confusion matrix
RUN/curves.png             loss and accuracy per epoch (matplotlib; confusion.png beside confusion.csv)
RUN/runs-<dataset>/        with --tensorboard: TensorBoard events (train.tensorboard)
RUN/run.json               the command, the resolved config, versions, seed, dataset summary
```
Structure follows PySlowFast's train_net.py: build data, model, optimiser; optionally resume; per epoch
`set_epoch`, train, validate, write (rank 0 only). Stop requests (Ctrl-C, SIGTERM) are checked after every
step; all ranks agree on them; the partial epoch is saved so `--resume` continues at the next batch.
The run folder's file names, `TrainState` and its save/resume are in `train.run_folder`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from slowfast_core.errors import ConfigError, SlowFastError
from slowfast_core.model.net import SlowFast
from slowfast_core.train import distributed
from slowfast_core.train.clips import ClipDataset, ClipSampling, EpochSampler, collate
from slowfast_core.train.data import DatasetSplit, load_dataset
from slowfast_core.train.precise_bn import default_batches, update_bn_stats
from slowfast_core.train.recipe import SYNC_BN_NEEDS_CUDA, TrainConfig, lr_at, parameter_groups, resolve, set_trainable
from slowfast_core.train.report import (
    accuracy_summary,
    append_jsonl,
    confusion_matrix,
    read_jsonl,
    write_confusion,
    write_curves_png,
)
from slowfast_core.train.start import ProgressFn, TrainResult, build_model
from slowfast_core.train.run_folder import (
    BEST,
    CONFUSION,
    CURVES,
    METRICS,
    TrainState,
    load_resume,
    save_last,
    write_run_json,
)
from slowfast_core.weights.native import save_model

if TYPE_CHECKING:
    from slowfast_core.train.tensorboard import EpochEvents

logger = logging.getLogger(__name__)


class Interrupted(SlowFastError):
    """Training stopped on request; a resumable checkpoint was written. `signal_exit` is 130 or 143."""

    def __init__(self, message: str, signal_exit: int) -> None:
        super().__init__(message)
        self.signal_exit = signal_exit


def _loader(dataset: ClipDataset, d: distributed.Dist, *, batch: int, shuffle: bool, seed: int,
            workers: int, drop_last: bool) -> tuple[DataLoader, EpochSampler]:
    base = DistributedSampler(dataset, num_replicas=d.world_size, rank=d.rank, shuffle=shuffle, seed=seed,
                              drop_last=False)
    sampler = EpochSampler(base)
    cuda = d.device.type == "cuda"
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate,
                        pin_memory=cuda, persistent_workers=workers > 0 and cuda, drop_last=drop_last,
                        multiprocessing_context="spawn" if workers > 0 and cuda else None)
    return loader, sampler


def auto_workers(d: distributed.Dist) -> int:
    """DataLoader workers per process: most of the cores left to the model on a CPU, several per GPU."""
    import os

    cores = os.cpu_count() or 1
    if d.device.type == "cuda":
        return max(2, min(8, cores // max(1, d.world_size) - 1))
    return 1 if cores // d.world_size >= 2 else 0


class _StopFlag:
    """Set by the signal handlers (Ctrl-C: 130, SIGTERM: 143) or by a caller's threading.Event."""

    def __init__(self, event: threading.Event | None) -> None:
        self.event = event
        self.code = 0

    def request(self, code: int) -> None:
        self.code = code

    @property
    def requested(self) -> bool:
        return self.code != 0 or (self.event is not None and self.event.is_set())


def _install_signals(flag: _StopFlag) -> Callable[[], None]:
    """SIGINT/SIGTERM set `flag` (main thread only); returns a function restoring the previous handlers."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, lambda *_: flag.request(130))
    signal.signal(signal.SIGTERM, lambda *_: flag.request(143))
    return lambda: [signal.signal(s, h) for s, h in previous.items()]  # type: ignore[func-returns-value]


def _autocast(d: distributed.Dist, enabled: bool):
    """bf16 autocast on CUDA where supported (else fp16), nothing on the CPU."""
    if d.device.type != "cuda" or not enabled:
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _to_device(inputs: list[torch.Tensor], d: distributed.Dist) -> list[torch.Tensor]:
    if d.device.type != "cuda":
        return inputs
    return [x.to(d.device, non_blocking=True).contiguous(memory_format=torch.channels_last_3d) for x in inputs]


def evaluate_loader(model: nn.Module, loader: DataLoader, d: distributed.Dist, num_classes: int,
                    amp: bool) -> tuple[torch.Tensor, float, list[int]]:
    """Centre-clip validation: (confusion (C, C) summed over ranks, mean loss, unreadable example indices)."""
    model.eval()
    conf = torch.zeros(num_classes, num_classes, dtype=torch.long)
    loss_sum = torch.zeros(2, dtype=torch.float64)  # loss sum, count
    skipped: list[int] = []
    with torch.inference_mode():
        for inputs, labels, bad in loader:
            skipped += bad
            if inputs is None:
                continue
            with _autocast(d, amp):
                logits = model(_to_device(inputs, d)).float().cpu()
            loss_sum += torch.tensor([nn.functional.cross_entropy(logits, labels, reduction="sum").item(), len(labels)],
                                     dtype=torch.float64)
            conf += confusion_matrix(labels, logits.argmax(dim=1), num_classes)
    distributed.all_reduce_sum(d, conf)
    distributed.all_reduce_sum(d, loss_sum)
    return conf, (loss_sum[0] / loss_sum[1]).item() if loss_sum[1] > 0 else float("nan"), skipped


def recompute_bn(config: TrainConfig, d: distributed.Dist, model: nn.Module, loader: DataLoader, *,
                 final: bool = False) -> int:
    """Precise BN (train.precise_bn) over the first batches of `loader` (more of them after the `final` epoch);
    returns the batches used (0: off, or BN frozen by --frozen-bn / a partly frozen model). `model` is the bare
    network, not the DDP wrapper: DDP would broadcast rank 0's buffers before every forward; each rank averages
    its own batches instead, then the ranks' statistics are averaged."""
    n = default_batches(config.batch_size, config.precise_bn, len(loader), final=final)
    if n == 0 or config.frozen_bn or config.train != "all":
        return 0

    def forward(m: nn.Module, batch: tuple) -> bool:
        inputs = batch[0]
        if inputs is None:
            return False
        with _autocast(d, config.amp):
            m(_to_device(inputs, d))
        return True

    def mean_over_ranks(t: torch.Tensor) -> None:
        distributed.all_reduce_sum(d, t).div_(d.world_size)

    return update_bn_stats(model, loader, n, forward, mean_over_ranks if d.enabled else None)


def budget_clock(config: TrainConfig) -> Callable[[], float]:
    """What --minutes counts: wall-clock seconds, or this process's CPU seconds (fair between runs that share
    a busy machine, when each runs on one thread: see `slowfast experiment`)."""
    return time.process_time if config.budget_clock == "cpu" else time.monotonic


def train(config: TrainConfig, *, stop: threading.Event | None = None, progress: ProgressFn | None = None,
          data: DatasetSplit | None = None) -> TrainResult:
    """Run (or resume) one training run as `config` says; returns when done or raises Interrupted."""
    d = distributed.setup(config.device)
    try:
        return _train(config, d, stop=stop, progress=progress, data=data)
    finally:
        distributed.teardown(d)


def _train(config: TrainConfig, d: distributed.Dist, *, stop: threading.Event | None,
           progress: ProgressFn | None, data: DatasetSplit | None) -> TrainResult:
    config = resolve(config, d.world_size)
    out = Path(config.out).expanduser()
    data = data or load_dataset(config.data, background=config.background, val_fraction=config.val_fraction,
                                seed=config.seed)
    if d.is_main:  # after the dataset is read: a dataset that cannot be read leaves no empty --out behind
        out.mkdir(parents=True, exist_ok=True)
    if config.train == "head":
        from slowfast_core.train.head import train_head

        return train_head(config, d, data, out, stop=stop, progress=progress)
    torch.manual_seed(config.seed)
    model = build_model(config, data.categories)
    set_trainable(model, config.train)
    sampling = ClipSampling.for_model(model.config.geometry, model.meta.preprocessing, scale=config.scale,
                                      crop=config.crop, flip=config.flip)
    workers = auto_workers(d) if config.workers < 0 else config.workers
    train_set = ClipDataset(data.train, sampling, mode="train", seed=config.seed)
    val_set = ClipDataset(data.val, sampling, mode="center", seed=config.seed)
    train_loader, train_sampler = _loader(train_set, d, batch=config.batch_size, shuffle=True, seed=config.seed,
                                          workers=workers, drop_last=len(train_set) > config.batch_size * d.world_size)
    val_loader, _ = _loader(val_set, d, batch=config.batch_size, shuffle=False, seed=config.seed, workers=workers,
                            drop_last=False)
    model.to(d.device)
    if d.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)
    if config.sync_bn and d.enabled:
        if d.device.type != "cuda":
            raise ConfigError(SYNC_BN_NEEDS_CUDA)
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net: SlowFast = model
    if d.enabled:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.type == "cuda" else None)
    optimizer = torch.optim.SGD(parameter_groups(net, config.weight_decay, config.head_lr_mult), lr=config.lr,
                                momentum=config.momentum)
    fp16 = d.device.type == "cuda" and config.amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda") if fp16 else None
    state = load_resume(out, net, optimizer, scaler) if config.resume else TrainState(horizon=config.epochs)
    if d.is_main and not config.resume:
        (out / METRICS).unlink(missing_ok=True)
        write_run_json(out, config, data, d)
    steps_per_epoch = max(1, len(train_loader))
    flag = _StopFlag(stop)
    restore = _install_signals(flag)
    last_record: dict = {}
    events = _tensorboard_events(config, d, out)
    try:
        while state.epoch < state.horizon:
            last_record = _run_epoch(config, d, model, net, optimizer, scaler, train_loader, train_sampler, val_loader,
                                     state, steps_per_epoch, flag, out, data, progress,
                                     events=events)
            if config.minutes is not None:
                if state.seconds >= config.minutes * 60:
                    break
                state.horizon = _time_horizon(config, state, last_record["epoch_seconds"])
    finally:
        restore()
        if events is not None:
            events.close()
    return TrainResult(out, state, last_record, data.categories)


def _tensorboard_events(config: TrainConfig, d: distributed.Dist, out: Path) -> "EpochEvents | None":
    """`--tensorboard`: the run's event writer on rank 0 (RUN/runs-<dataset>), else None."""
    if not config.tensorboard or not d.is_main:
        return None
    from slowfast_core.train.tensorboard import EpochEvents, log_dir

    return EpochEvents(log_dir(out, str(config.data[0])))


def _time_horizon(config: TrainConfig, state: TrainState, last_epoch_seconds: float) -> int:
    """Epochs that fit the --minutes budget at the last epoch's pace (re-estimated after every epoch, so a slow
    first epoch — worker start-up, warm-up — does not cut the run short); the cosine ends where the budget does."""
    left = config.minutes * 60 - state.seconds  # type: ignore[operator]
    more = int(left // max(last_epoch_seconds, 1e-6)) + 1  # the epoch that crosses the budget still runs
    return max(state.epoch + 1, min(config.epochs, state.epoch + more))


def _is_final_epoch(config: TrainConfig, state: TrainState) -> bool:
    """Whether the epoch just trained (not yet counted in `state.epoch`) is the run's last: it reaches the
    horizon, or its training alone used up the --minutes budget (the loop stops after its validation)."""
    if state.epoch + 1 >= state.horizon:
        return True
    return config.minutes is not None and state.seconds >= config.minutes * 60


def _run_epoch(config: TrainConfig, d: distributed.Dist, model: nn.Module, net: SlowFast,
               optimizer: torch.optim.Optimizer, scaler: Any, train_loader: DataLoader, sampler: EpochSampler,
               val_loader: DataLoader, state: TrainState, steps_per_epoch: int, flag: _StopFlag, out: Path,
               data: DatasetSplit, progress: ProgressFn | None,
               events: "EpochEvents | None" = None) -> dict:
    """Train one epoch (from `state.batch` on), validate, write metrics and checkpoints. Mutates `state`."""
    epoch = state.epoch
    sampler.set_epoch(epoch)
    model.train()
    if config.frozen_bn or config.train != "all":
        from slowfast_core.train.recipe import freeze_bn

        freeze_bn(model)
    sums = state.partial or {"loss": 0.0, "correct": 0, "count": 0, "clips": 0}
    clock = budget_clock(config)
    start = clock()
    total_steps = state.horizon * steps_per_epoch
    warmup = config.warmup_epochs * steps_per_epoch
    lr = config.lr
    for b, (inputs, labels, bad) in enumerate(train_loader):
        if b < state.batch:
            continue  # resuming inside an epoch: these batches were done (data is a function of epoch/index)
        state.skipped += [str(data.train[i].path) for i in bad]
        lr = lr_at(state.step, total_steps=total_steps, warmup_steps=warmup, base_lr=config.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        torch.manual_seed(config.seed * 1_000_003 + state.step)  # dropout draws: a function of the step (exact resume)
        if inputs is not None:
            labels_dev = labels.to(d.device, non_blocking=True)
            with _autocast(d, config.amp):
                logits = model(_to_device(inputs, d))
                loss = nn.functional.cross_entropy(logits.float(), labels_dev)
            optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                raise SlowFastError(f"training diverged at epoch {epoch + 1} (loss {loss.item()}): lower --lr "
                                    f"(now {config.lr:g}) and --resume or start again")
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            sums["loss"] += loss.item() * len(labels)
            sums["correct"] += int((logits.detach().argmax(dim=1) == labels_dev).sum().item())
            sums["count"] += len(labels)
            sums["clips"] += len(labels)
        state.step += 1
        state.batch = b + 1
        if progress is not None and d.is_main:
            progress(f"epoch {epoch + 1}/{state.horizon}", b + 1, steps_per_epoch)
        if distributed.any_process(d, flag.requested):
            state.seconds += clock() - start
            state.partial = sums
            if d.is_main:
                save_last(out, net, optimizer, scaler, state)
            code = flag.code or 130
            raise Interrupted(f"stopped at epoch {epoch + 1}, batch {b + 1}: resume with --resume {out}", code)
    seconds = clock() - start
    state.seconds += seconds
    totals = torch.tensor([sums["loss"], sums["correct"], sums["count"]], dtype=torch.float64)
    distributed.all_reduce_sum(d, totals)
    val_start = clock()
    precise = recompute_bn(config, d, net, train_loader,  # before validation and the checkpoints below
                           final=_is_final_epoch(config, state))
    conf, val_loss, val_bad = evaluate_loader(model, val_loader, d, len(data.categories), config.amp)
    state.seconds += clock() - val_start  # the --minutes budget counts precise BN and validation too
    state.skipped += [str(data.val[i].path) for i in val_bad]
    val = accuracy_summary(conf, data.categories) if conf.sum() > 0 else None
    record = {
        "epoch": epoch + 1, "train_loss": (totals[0] / totals[2]).item() if totals[2] else float("nan"),
        "train_top1": (totals[1] / totals[2]).item() if totals[2] else float("nan"),
        "val_loss": val_loss, "val_top1": val["top1"] if val else None,
        "val_mean_class": val["mean_class_accuracy"] if val else None, "lr": lr,
        "clips_per_s": totals[2].item() / max(seconds, 1e-9), "seconds": round(seconds, 3),
        "epoch_seconds": round(clock() - start, 3), "precise_bn_batches": precise,
        "skipped": len(set(state.skipped)),
    }
    state.epoch, state.batch, state.partial = epoch + 1, 0, {}
    if d.is_main:
        append_jsonl(out / METRICS, record)
        score = record["val_top1"] if record["val_top1"] is not None else record["train_top1"]
        best = score > state.best_top1
        if best:
            state.best_top1 = score
            save_model(net, out / BEST, base=getattr(net, "_base", None))
            if val is not None:
                write_confusion(out / CONFUSION, conf, data.categories)
        save_last(out, net, optimizer, scaler, state)
        write_curves_png(out / CURVES, read_jsonl(out / METRICS))
        if events is not None:  # --tensorboard
            events.add_epoch(record, conf if best and val is not None else None, data.categories)
        logger.info("epoch %d: %s", epoch + 1, record)
    return record
