"""`slowfast evaluate`: the paper's multi-view testing of a checkpoint on a dataset.

Each video gives `clips` uniformly spaced windows (same window cutter as everywhere) x `crops` spatial
squares (1: centre, 3: left/centre/right along the long side) at the model's input size; softmax scores are
averaged over the views. Reports top-1, top-5, mean per-class accuracy, per-class accuracy and the
confusion matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from slowfast_core.errors import SlowFastError
from slowfast_core.model.net import SlowFast
from slowfast_core.train.clips import read_frames_at, spatial_crops
from slowfast_core.train.data import DatasetSplit, Example
from slowfast_core.train.report import accuracy_summary, confusion_matrix, topk_correct
from slowfast_core.video.preprocess import pathway_tensors

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Results of `evaluate_model`."""

    top1: float
    top5: float
    mean_class_accuracy: float
    per_class: dict[str, float | None]
    confusion: torch.Tensor  # (C, C)
    categories: list[str]
    videos: int
    views: int
    skipped: list[str]

    def to_json(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "mean_class_accuracy": self.mean_class_accuracy,
                "per_class": self.per_class, "confusion": self.confusion.tolist(), "categories": self.categories,
                "videos": self.videos, "views_per_video": self.views, "skipped": self.skipped}


def video_scores(backend, example: Example, model: SlowFast, *, clips: int, crops: int) -> np.ndarray:
    """Softmax averaged over clips x crops for one video: (C,)."""
    prep = model.meta.preprocessing
    frames, windows = read_frames_at(example, model.config.geometry, mode="uniform", views=clips)
    total = None
    for view in spatial_crops(frames, prep, crops):
        for indices in windows:
            logits = backend(pathway_tensors(view, indices, prep))  # (1, C)
            probs = torch.softmax(logits.float().reshape(-1), 0).numpy()
            total = probs if total is None else total + probs
    assert total is not None
    return total / (clips * crops)


def evaluate_model(model: SlowFast, data: DatasetSplit, split: str, *, clips: int = 10, crops: int = 3,
                   backend: str = "auto", device: str = "auto",
                   progress: Callable[[str, int, int], None] | None = None) -> Evaluation:
    """Multi-view accuracy of `model` on `data`'s `split`; the model's categories must match the data's."""
    from slowfast_core.backends.base import create_backend

    examples = getattr(data, split)
    if not examples:
        raise SlowFastError(f"the dataset has no {split} examples: pick another split with --split")
    names = list(model.meta.categories)
    mapping = []
    for c in data.categories:
        if c not in names:
            raise SlowFastError(f"the dataset's class {c!r} is not one the model knows ({', '.join(names[:5])}...): "
                                "evaluate a checkpoint trained on these classes")
        mapping.append(names.index(c))
    runner = create_backend(model, backend=backend, device=device)
    rows, targets, skipped = [], [], []
    for i, ex in enumerate(examples):
        try:
            rows.append(video_scores(runner, ex, model, clips=clips, crops=crops))
            targets.append(mapping[ex.label])
        except SlowFastError as exc:
            skipped.append(f"{ex.path}: {exc}")
        if progress is not None:
            progress("evaluate", i + 1, len(examples))
    if not rows:
        raise SlowFastError("no video of the split could be read: check the files play")
    scores = torch.from_numpy(np.stack(rows))  # (N, C_model)
    target = torch.tensor(targets)
    conf = confusion_matrix(target, scores.argmax(1), len(names))
    summary = accuracy_summary(conf, names)
    present = [i for i in range(len(names)) if conf[i].sum() > 0 or conf[:, i].sum() > 0]
    return Evaluation(
        top1=summary["top1"], top5=topk_correct(scores, target, 5) / len(target),
        mean_class_accuracy=summary["mean_class_accuracy"],
        per_class={names[i]: summary["per_class"][names[i]] for i in present},
        confusion=conf[present][:, present], categories=[names[i] for i in present],
        videos=len(rows), views=clips * crops, skipped=skipped,
    )
