"""What a run reports: accuracy from a confusion matrix, metrics.jsonl, confusion.csv and a PNG of the curves.

The curves are drawn with OpenCV (already a dependency) rather than a plotting library: two panels, loss and
accuracy (train and val) per epoch.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from slowfast_core.sessions.layout import atomic_write_text


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


def _panel(series: dict[str, list[float | None]], title: str, size: tuple[int, int], y_range: tuple[float, float] | None) -> np.ndarray:
    """One plot: lines per series (BGR colours fixed by order), axes and a legend."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 50, 10, 24, 28
    colours = [(200, 90, 30), (40, 40, 220), (60, 160, 40), (150, 60, 150)]
    values = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    if y_range is None:
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi - lo < 1e-9:
            hi = lo + 1.0
    else:
        lo, hi = y_range
    n = max((len(s) for s in series.values()), default=1)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (180, 180, 180), 1)
    cv2.putText(img, title, (left, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for frac in (0.0, 0.5, 1.0):
        y = int(h - bottom - frac * (h - top - bottom))
        cv2.putText(img, f"{lo + frac * (hi - lo):.2f}", (2, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (80, 80, 80), 1)
    cv2.putText(img, f"epoch 1..{n}", (left, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (80, 80, 80), 1)

    def point(i: int, v: float) -> tuple[int, int]:
        x = left + (i / max(1, n - 1)) * (w - left - right)
        y = h - bottom - (min(max(v, lo), hi) - lo) / (hi - lo) * (h - top - bottom)
        return int(x), int(y)

    for k, (name, s) in enumerate(series.items()):
        colour = colours[k % len(colours)]
        pts = [point(i, v) for i, v in enumerate(s) if v is not None and math.isfinite(v)]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in pts[-1:]:
            cv2.circle(img, p, 3, colour, -1)
        cv2.putText(img, name, (w - right - 90, top + 14 + 14 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return img


def write_curves_png(path: Path, history: Sequence[dict]) -> None:
    """Loss and accuracy per epoch, side by side, from metrics records."""
    loss = {"train loss": [r.get("train_loss") for r in history], "val loss": [r.get("val_loss") for r in history]}
    acc = {"train top-1": [r.get("train_top1") for r in history], "val top-1": [r.get("val_top1") for r in history]}
    img = np.concatenate([_panel(loss, "loss", (420, 280), None), _panel(acc, "accuracy", (420, 280), (0.0, 1.0))], axis=1)
    ok, data = cv2.imencode(".png", img)
    if ok:
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data.tobytes())
        tmp.replace(path)


def write_confusion(path: Path, confusion: torch.Tensor, categories: Sequence[str]) -> None:
    atomic_write_text(path, confusion_csv(confusion, categories))


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
