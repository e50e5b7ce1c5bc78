"""Teach, step 2: compute the missing features, fit the head on held-out-split windows, save the taught model
(a head file: classifier, categories and the backbone identity; see `weights.head_file`).

`run_teach` fits the linear head on the plan's features (`train.teach` makes the plan); `run_teach_last`
fine-tunes res5 + head through the training loop instead. See `train.teach` for the whole flow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slowfast_core.model.net import SlowFast
from slowfast_core.train.data import Example
from slowfast_core.train.teach import (
    MIN_EXAMPLES,
    MODEL_FILE,
    RESULT_FILE,
    VAL_SHARE,
    EventFn,
    TeachError,
    TeachPlan,
    TeachResult,
)


def split_windows(plan: TeachPlan) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(session, window) pairs for train and val: per label, the last VAL_SHARE of its segments (in time) are
    held out whole; a label with a single long segment holds out its last VAL_SHARE of time instead."""
    by_label: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for si, s in enumerate(plan.sessions):
        for wi in np.flatnonzero(s.labels >= 0):
            by_label.setdefault(int(s.labels[wi]), {}).setdefault(s.groups[wi], []).append((si, int(wi)))
    train, val = [], []
    for groups in by_label.values():
        ordered = list(groups.values())  # sessions in order, segments in time
        if len(ordered) >= 2:
            n_val = max(1, int(round(VAL_SHARE * len(ordered))))
            for g in ordered[:-n_val]:
                train += g
            for g in ordered[-n_val:]:
                val += g
        elif len(ordered[0]) >= 2 * MIN_EXAMPLES + 2:
            g = ordered[0]
            spans = np.array([[plan.sessions[si].starts[wi], plan.sessions[si].ends[wi]] for si, wi in g])
            cut = np.quantile(spans[:, 0], 1 - VAL_SHARE)
            train += [p for p, (a, b) in zip(g, spans) if b <= cut]
            val += [p for p, (a, b) in zip(g, spans) if a >= cut]
        else:
            train += ordered[0]
    return train, val


def compute_features(plan: TeachPlan, base: SlowFast, *, on_event: EventFn, device: str = "cpu",
                     backend: str = "auto") -> int:
    """Fill in the features of sessions that did not record them (decoded from video, cached); returns how many."""
    from slowfast_core.train.head import FeatureCache

    todo = [(s, int(wi)) for s in plan.sessions if s.features is None for wi in np.flatnonzero(s.labels >= 0)]
    if not todo:
        return 0
    cache = FeatureCache(base, backend=backend, device=device)
    started = time.monotonic()
    filled: dict[int, np.ndarray] = {}
    for done, (s, wi) in enumerate(todo, start=1):
        ex = Example(s.video, int(s.labels[wi]), float(s.starts[wi]), float(s.ends[wi]), group=s.groups[wi])
        if id(s) not in filled:
            filled[id(s)] = np.zeros((len(s.starts), plan.identity.dim), np.float32)
        filled[id(s)][wi] = cache.features(ex, mode="center", views=1)[0]
        elapsed = time.monotonic() - started
        on_event({"event": "progress", "what": "features", "done": done, "total": len(todo),
                  "eta_s": round(elapsed / done * (len(todo) - done), 1)})
    for s in plan.sessions:
        if s.features is None:
            s.features = filled[id(s)]
    return len(todo)


def taught_model(base: SlowFast, linear: nn.Linear, categories: Sequence[str]) -> SlowFast:
    """A new model with `base`'s backbone whose classifier is `linear` (C -> len(categories)) with those labels."""
    from slowfast_core.model.builder import with_classes

    return with_classes(base, categories, head=linear)


def _stack(plan: TeachPlan, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return np.zeros((0, plan.identity.dim), np.float32), np.zeros(0, np.int64)
    x = np.stack([plan.sessions[si].features[wi] for si, wi in pairs]).astype(np.float32)  # type: ignore[index]
    y = np.array([plan.sessions[si].labels[wi] for si, wi in pairs], np.int64)
    return x, y


def run_teach(plan: TeachPlan, base: SlowFast, out: Path, *, on_event: EventFn | None = None,
              device: str = "cpu", backend: str = "auto") -> TeachResult:
    """Train the head on `plan`'s windows, save it as a head file `out/taught.pyth` (see the module doc)."""
    from slowfast_core.train.head import HEAD_STEPS, fit_linear
    from slowfast_core.model.config import PRESETS
    from slowfast_core.train.report import confusion_matrix
    from slowfast_core.weights.head_file import save_head, taught_head

    emit = on_event or (lambda e: None)
    started = time.monotonic()
    reused = plan.recorded
    computed = compute_features(plan, base, on_event=emit, device=device, backend=backend)
    train, val = split_windows(plan)
    x, y = _stack(plan, train)
    xv, yv = _stack(plan, val)
    n = len(plan.categories)
    counts = np.bincount(y, minlength=n).astype(np.float64)
    weight = np.where(counts > 0, len(y) / (n * np.maximum(counts, 1)), 0.0)  # balanced: background is plentiful
    linear, history = fit_linear(x, y, n, xv=xv if len(xv) else None, yv=yv if len(yv) else None,
                                 steps=HEAD_STEPS, class_weight=weight,
                                 on_record=lambda rec: emit({"event": "metrics", **rec}))
    with torch.no_grad():
        confusion = (confusion_matrix(torch.from_numpy(yv), linear(torch.from_numpy(xv)).argmax(1), n)
                     if len(yv) else torch.zeros(n, n, dtype=torch.int64))
        train_top1 = float((linear(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    rows = confusion.sum(1)
    per_label = {c: (float(confusion[i, i] / rows[i]) if rows[i] else None) for i, c in enumerate(plan.categories)}
    val_top1 = float(confusion.diag().sum() / rows.sum()) if int(rows.sum()) else None
    if len(yv):  # measured on held-out segments; the model to use learns from every example (few-shot: each counts)
        xa, ya = np.concatenate([x, xv]), np.concatenate([y, yv])
        counts = np.bincount(ya, minlength=n).astype(np.float64)
        weight = np.where(counts > 0, len(ya) / (n * np.maximum(counts, 1)), 0.0)
        linear, _ = fit_linear(xa, ya, n, steps=HEAD_STEPS, class_weight=weight)
    out.mkdir(parents=True, exist_ok=True)
    base_spec = None if plan.base in PRESETS else plan.base  # an arch alone: its untrained (fixed-seed) weights
    head = taught_head(linear, plan.categories, plan.identity, base=base_spec, arch=base.config.name)
    path = save_head(head, out / MODEL_FILE)  # the classifier alone: the backbone is the base's, read once
    result = TeachResult(path, plan.categories, history, confusion.tolist(), per_label, val_top1, train_top1,
                         time.monotonic() - started, computed, reused, plan.base, plan.notes)
    (out / RESULT_FILE).write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    return result


def run_teach_last(plan: TeachPlan, base_spec: str, out: Path, *, on_event: EventFn | None = None,
                   device: str = "cpu", epochs: int = 5) -> TeachResult:
    """The advanced option: fine-tune res5 + head (`--train last`) on the plan's sessions, through the loop."""
    from slowfast_core.model.config import PRESETS
    from slowfast_core.train.loop import train
    from slowfast_core.train.run_folder import BEST, CONFUSION, METRICS
    from slowfast_core.train.recipe import TrainConfig

    if base_spec in PRESETS:
        raise TeachError("training `last` needs a base model with trained weights: choose one with --base")
    emit = on_event or (lambda e: None)
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    sent = 0

    def progress(what: str, done: int, total: int) -> None:
        nonlocal sent
        emit({"event": "progress", "what": what, "done": done, "total": total})
        lines = (out / METRICS).read_text().splitlines() if (out / METRICS).is_file() else []
        for line in lines[sent:]:
            emit({"event": "metrics", **json.loads(line)})
        sent = len(lines)

    config = TrainConfig(data=[str(s.folder) for s in plan.sessions], out=str(out), init=base_spec, arch="",
                         train="last", epochs=epochs, background=plan.background, device=device, workers=0)
    result = train(config, progress=progress)
    progress("done", 1, 1)
    history = [json.loads(line) for line in (out / METRICS).read_text().splitlines()]
    confusion = _read_confusion(out / CONFUSION, len(result.categories))
    rows = [sum(r) for r in confusion]
    per_label = {c: (confusion[i][i] / rows[i] if rows[i] else None) for i, c in enumerate(result.categories)}
    target = out / MODEL_FILE
    (out / BEST).replace(target)
    val = result.state.best_top1
    return TeachResult(target, list(result.categories), history, confusion, per_label, val,
                       float(history[-1].get("train_top1") or 0.0), time.monotonic() - started, 0, 0, base_spec,
                       plan.notes)


def _read_confusion(path: Path, n: int) -> list[list[int]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        return [[int(v) for v in line.split(",")[1:]] for line in lines][:n]
    except (OSError, ValueError):
        return [[0] * n for _ in range(n)]
