"""What a run reports: accuracy from a confusion matrix, metrics.jsonl, confusion.csv (+ .png) and curves.png.

The pictures are drawn with matplotlib in `train.plots` (`write_curves_png` is re-exported here for the loop).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from slowfast_core.sessions.layout import atomic_write_text
from slowfast_core.train.plots import write_confusion_png
from slowfast_core.train.plots import write_curves_png  # noqa: F401 - the loop and head training import it here


def confusion_matrix(targets: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts: row = true class, column = predicted class."""
    idx = targets.long() * num_classes + predictions.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy_summary(confusion: torch.Tensor, categories: Sequence[str]) -> dict:
    """top-1 (overall), mean per-class accuracy and per-class accuracy (None for classes without examples)."""
    conf = confusion.double()
    total = conf.sum().item()
    per_class_n = conf.sum(dim=1)
    per_class = [(conf[i, i] / per_class_n[i]).item() if per_class_n[i] > 0 else None for i in range(len(categories))]
    seen = [a for a in per_class if a is not None]
    return {
        "top1": conf.diag().sum().item() / total if total else 0.0,
        "mean_class_accuracy": sum(seen) / len(seen) if seen else 0.0,
        "per_class": {c: a for c, a in zip(categories, per_class)},
        "examples": int(total),
    }


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, k: int) -> int:
    """How many rows of `logits` (N, C) have their target among the top k."""
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # (N, k)
    return int((top == targets[:, None]).any(dim=1).sum().item())


def confusion_csv(confusion: torch.Tensor, categories: Sequence[str]) -> str:
    """The matrix as CSV: a header of predicted classes, one row per true class."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["true \\ predicted", *categories])
    for name, row in zip(categories, confusion.tolist()):
        writer.writerow([name, *row])
    return buf.getvalue()


def read_confusion_csv(path: Path) -> tuple[list[str], list[list[int]]]:
    """What `confusion_csv` wrote: the categories and the matrix (rows: true class, columns: predicted)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    categories = rows[0][1:]
    return categories, [[int(v) for v in row[1:]] for row in rows[1:]]


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line (non-finite floats become null, so the file stays valid JSON)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(clean) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """The records of a metrics.jsonl (a torn last line is ignored)."""
    out = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def write_confusion(path: Path, confusion: torch.Tensor, categories: Sequence[str]) -> None:
    """RUN/confusion.csv and, beside it, the same matrix drawn as confusion.png."""
    atomic_write_text(path, confusion_csv(confusion, categories))
    write_confusion_png(path.with_suffix(".png"), confusion, categories)


def format_table(summary: dict, confusion: torch.Tensor, categories: Sequence[str]) -> str:
    """Per-class accuracy lines and the confusion matrix as text, for `slowfast evaluate`."""
    lines = []
    width = max(len(c) for c in categories)
    for c, a in summary["per_class"].items():
        n = int(confusion[categories.index(c)].sum())
        lines.append(f"  {c:<{width}}  {'-' if a is None else f'{a * 100:5.1f}%'}  ({n} clips)")
    lines.append("confusion (rows: true, columns: predicted, in the order above):")
    for c, row in zip(categories, confusion.tolist()):
        lines.append(f"  {c:<{width}}  " + " ".join(f"{v:4d}" for v in row))
    return "\n".join(lines)
