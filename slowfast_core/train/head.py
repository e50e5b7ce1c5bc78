"""`--train head`: keep the backbone, cache each clip's pooled feature once, train the linear classifier.

Features come from the fastest inference backend for the device (`create_backend(..., "auto")`) run on a
copy of the model whose classifier is the identity, so its output is the pooled (B, C) feature. Each
feature is cached on disk under `slowfast_cache_dir()/features/<backbone digest>/`, keyed by the clip (file, size,
mtime, span, view), so a second run over the same data decodes nothing. Training examples give `views`
uniformly spaced clips each; validation the centre clip. The classifier then trains in seconds (full-batch
AdamW over the cached features), and the saved checkpoint is the whole model: backbone + new head.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from slowfast_core.errors import SlowFastError
from slowfast_core.model.identity import backbone_digest, feature_view
from slowfast_core.model.net import SlowFast
from slowfast_core.train import distributed
from slowfast_core.train.clips import read_frames_at
from slowfast_core.train.data import DatasetSplit, Example
from slowfast_core.video.preprocess import pathway_tensors, prepare_frame

logger = logging.getLogger(__name__)

HEAD_STEPS = 300  # full-batch optimiser steps
RECORD_EVERY = 10  # steps per metrics record ("epoch" in metrics.jsonl for head training)


def feature_model(model: SlowFast) -> SlowFast:
    """A copy of `model` whose output is the pooled feature (B, C): the classifier is the identity.

    A deep copy (a backend may move or fold it) of `identity.feature_view`, the one classifier-less view."""
    return feature_view(copy.deepcopy(model).eval())


def _clip_key(example: Example, mode: str, views: int) -> str:
    st = example.path.stat()
    text = f"{example.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{example.start}|{example.end}|{mode}|{views}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class FeatureCache:
    """Features of clips for one backbone, computed with one backend, cached as .npy files."""

    def __init__(self, model: SlowFast, *, backend: str = "auto", device: str = "auto",
                 root: Path | None = None) -> None:
        from slowfast_core.backends.base import slowfast_cache_dir, create_backend

        self.model = model
        self.prep = model.meta.preprocessing
        self.geometry = model.config.geometry
        self.folder = (root or slowfast_cache_dir() / "features") / backbone_digest(model, self.prep.short_side)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._backend_name, self._device = backend, device
        self._backend = None
        self._create = create_backend
        self.hits = self.misses = 0

    def _runner(self):
        if self._backend is None:
            self._backend = self._create(feature_model(self.model), backend=self._backend_name, device=self._device)
        return self._backend

    def features(self, example: Example, *, mode: str, views: int = 1) -> np.ndarray:
        """(views, C) float32 features of `example`'s clips (mode "uniform" or "center")."""
        file = self.folder / f"{_clip_key(example, mode, views)}.npy"
        if file.is_file():
            try:
                self.hits += 1
                return np.load(file)
            except (OSError, ValueError):
                file.unlink(missing_ok=True)
                self.hits -= 1
        self.misses += 1
        frames, clips = read_frames_at(example, self.geometry, mode=mode, views=views)
        prepared = np.stack([prepare_frame(f[..., ::-1], self.prep.short_side) for f in frames])  # as live
        runner = self._runner()
        feats = [runner(pathway_tensors(prepared, clip, self.prep)).reshape(-1).numpy() for clip in clips]
        out = np.stack(feats).astype(np.float32)  # (views, C)
        tmp = file.with_name(file.stem + ".part.npy")
        np.save(tmp, out)
        tmp.replace(file)
        return out


def extract(cache: FeatureCache, examples: list[Example], *, mode: str, views: int,
            progress: Callable[[str, int, int], None] | None, what: str,
            stop: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (N*views, C) and labels (N*views,) of `examples`; unreadable ones are skipped and named."""
    xs, ys, skipped = [], [], []
    for i, ex in enumerate(examples):
        if stop is not None and stop.is_set():
            raise SlowFastError("feature extraction cancelled")
        try:
            f = cache.features(ex, mode=mode, views=views)
            xs.append(f)
            ys.extend([ex.label] * len(f))
        except (SlowFastError, OSError) as exc:
            logger.debug("skipping %s: %s", ex.path, exc)
            skipped.append(str(ex.path))
        if progress is not None:
            progress(what, i + 1, len(examples))
    if not xs:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), skipped
    return np.concatenate(xs), np.asarray(ys, dtype=np.int64), skipped


def fit_linear(x: np.ndarray, y: np.ndarray, num_classes: int, *, xv: np.ndarray | None = None,
               yv: np.ndarray | None = None, steps: int = HEAD_STEPS, weight_decay: float = 1e-3,
               seed: int = 0, class_weight: np.ndarray | None = None,
               on_record: Callable[[dict], None] | None = None) -> tuple[nn.Linear, list[dict]]:
    """A linear classifier on features (full-batch AdamW), the one with the best val top-1 kept.

    Returns it (in the features' original scale) and one record per RECORD_EVERY steps, each also handed to
    `on_record` as it is made (live curves). class_weight (num_classes,): the loss weight of each class.
    """
    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).long()
    xvt = torch.from_numpy(xv).float() if xv is not None and len(xv) else None
    yvt = torch.from_numpy(yv).long() if yv is not None and len(yv) else None
    mean, std = xt.mean(dim=0), xt.std(dim=0).clamp_min(1e-6)  # standardise, then fold back into the layer
    linear = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    opt = _AdamW(list(linear.parameters()), lr=0.01, weight_decay=weight_decay)
    weight = torch.from_numpy(class_weight).float() if class_weight is not None else None
    history, best, best_state = [], -1.0, None
    t0 = time.monotonic()
    xs = (xt - mean) / std  # (N, C) standardised once
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a (N, C) x (C, K) product: one thread beats two fighting over a busy machine
    try:
        for step in range(1, steps + 1):
            opt.zero_grad()
            logits = linear(xs)
            loss = nn.functional.cross_entropy(logits, yt, weight=weight)
            loss.backward()
            opt.step()
            if step % RECORD_EVERY == 0 or step == steps:
                best, best_state = _record(history, step, loss, logits, yt, linear, xvt, yvt, mean, std, t0,
                                           best, best_state, on_record)
    finally:
        torch.set_num_threads(threads)
    assert best_state is not None
    linear.load_state_dict(best_state)
    folded = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():  # W (x - m) / s + b = (W / s) x + (b - W m / s)
        folded.weight.copy_(linear.weight / std)
        folded.bias.copy_(linear.bias - (linear.weight / std) @ mean)
    return folded, history


class _AdamW:
    """torch.optim.AdamW's update (decoupled weight decay, betas 0.9/0.999, eps 1e-8) for a few tensors.

    torch.optim imports torch._dynamo on first use (2-7 s on a 2-core machine): longer than the whole fit."""

    def __init__(self, params: list[torch.Tensor], *, lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.wd, self.betas, self.eps = params, lr, weight_decay, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            p.mul_(1 - self.lr * self.wd)
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** self.t))


def _record(history: list[dict], step: int, loss: torch.Tensor, logits: torch.Tensor, yt: torch.Tensor,
            linear: nn.Linear, xvt: torch.Tensor | None, yvt: torch.Tensor | None, mean: torch.Tensor,
            std: torch.Tensor, t0: float, best: float, best_state: dict | None,
            on_record: Callable[[dict], None] | None) -> tuple[float, dict | None]:
    """Append one metrics record (train and val loss/top-1); returns the best val (else train) top-1 and state."""
    with torch.no_grad():
        rec = {"epoch": step // RECORD_EVERY, "train_loss": loss.item(),
               "train_top1": (logits.argmax(1) == yt).float().mean().item(), "val_loss": None,
               "val_top1": None, "lr": 0.01, "seconds": round(time.monotonic() - t0, 3)}
        if xvt is not None and yvt is not None:
            vl = linear((xvt - mean) / std)
            rec["val_loss"] = nn.functional.cross_entropy(vl, yvt).item()
            rec["val_top1"] = (vl.argmax(1) == yvt).float().mean().item()
        score = rec["val_top1"] if rec["val_top1"] is not None else rec["train_top1"]
        if score >= best:
            best, best_state = score, copy.deepcopy(linear.state_dict())
        history.append(rec)
        if on_record is not None:
            on_record(rec)
    return best, best_state


def train_head(config, d: distributed.Dist, data: DatasetSplit, out: Path, *, stop: threading.Event | None,
               progress: Callable[[str, int, int], None] | None):
    """Head-only training (single process): cache features, fit the classifier, save the whole model."""
    from slowfast_core.train.start import TrainResult, build_model
    from slowfast_core.train.run_folder import BEST, CONFUSION, CURVES, LAST, METRICS, TrainState
    from slowfast_core.train.report import append_jsonl, confusion_matrix, write_confusion, write_curves_png
    from slowfast_core.weights.native import save_model

    if d.enabled and not d.is_main:
        return TrainResult(out, TrainState(), {}, data.categories)  # head training is seconds: rank 0 does it
    model = build_model(config, data.categories)
    cache = FeatureCache(model, device="cpu" if d.device.type == "cpu" else "auto")
    x, y, bad = extract(cache, data.train, mode="uniform", views=config.views, progress=progress,
                        what="features (train)", stop=stop)
    xv, yv, bad_v = extract(cache, data.val, mode="center", views=1, progress=progress, what="features (val)", stop=stop)
    if len(x) == 0:
        raise SlowFastError("no training clip could be read: check the videos play")
    linear, history = fit_linear(x, y, len(data.categories), xv=xv if len(xv) else None,
                                 yv=yv if len(yv) else None, seed=config.seed)
    head = model.blocks[6].proj
    with torch.no_grad():
        head.weight.copy_(linear.weight)
        head.bias.copy_(linear.bias)
    (out / METRICS).unlink(missing_ok=True)
    for rec in history:
        append_jsonl(out / METRICS, {**rec, "cache_hits": cache.hits, "cache_misses": cache.misses})
    if len(xv):
        with torch.no_grad():
            pred = linear(torch.from_numpy(xv)).argmax(1)
        write_confusion(out / CONFUSION, confusion_matrix(torch.from_numpy(yv), pred, len(data.categories)),
                        data.categories)
    base = getattr(model, "_base", None)
    save_model(model, out / BEST, base=base)
    save_model(model, out / LAST, base=base)
    write_curves_png(out / CURVES, history)
    if config.tensorboard and d.is_main:  # --tensorboard: the records as events
        from slowfast_core.train.tensorboard import EpochEvents, log_dir

        events = EpochEvents(log_dir(out, str(config.data[0])))
        for rec in history:
            events.add_epoch(rec)
        events.close()
    score = lambda r: r["val_top1"] if r["val_top1"] is not None else r["train_top1"]  # noqa: E731
    best = max(history, key=score)
    state = TrainState(epoch=len(history), horizon=len(history), best_top1=score(best), skipped=bad + bad_v)
    return TrainResult(out, state, {**best, "cache_hits": cache.hits, "cache_misses": cache.misses}, data.categories)
