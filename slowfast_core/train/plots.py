"""The run folder's pictures, drawn with matplotlib: curves.png (loss; top-1 accuracy) and confusion.png.

Each quantity has its own panel with its own labeled axes (the loss panel's y axis is the loss, the accuracy
panel's is percent from 0 to 100), integer epoch ticks on the x axis and a legend, so nothing reads as another
curve's scale. Drawn off-screen through the Agg canvas (no pyplot, no global figure state, no display), and
written to a temporary name then renamed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

#: (key, legend) of the curves per panel
LOSS_SERIES = (("train_loss", "train"), ("val_loss", "validation"))
TOP1_SERIES = (("train_top1", "train"), ("val_top1", "validation"))


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _save(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def _points(history: Sequence[dict], key: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    """(epochs, values) of the records that have a finite `key`."""
    xs, ys = [], []
    for i, r in enumerate(history):
        v = r.get(key)
        if v is not None and math.isfinite(float(v)):
            xs.append(float(r.get("epoch", i + 1)))
            ys.append(float(v) * scale)
    return xs, ys


def curves_png(history: Sequence[dict]) -> bytes:
    """Loss (left) and top-1 accuracy in % (right) per epoch, train and validation, as PNG bytes."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(9.0, 3.6)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, series, scale, ylabel in ((loss_ax, LOSS_SERIES, 1.0, "cross-entropy loss"),
                                      (acc_ax, TOP1_SERIES, 100.0, "top-1 accuracy (%)")):
        for (key, name), marker in zip(series, ("o", "s")):
            xs, ys = _points(history, key, scale)
            if xs:
                ax.plot(xs, ys, marker=marker, markersize=3, linewidth=1.5, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize="small")
    loss_ax.set_title("loss")
    acc_ax.set_title("accuracy")
    acc_ax.set_ylim(0, 100)
    return _png(fig)


def write_curves_png(path: Path, history: Sequence[dict]) -> None:
    """RUN/curves.png from the metrics records (see `curves_png`)."""
    _save(path, curves_png(history))


def confusion_png(confusion: torch.Tensor, categories: Sequence[str]) -> bytes:
    """The confusion matrix (rows: true class, columns: predicted), each row as a share of its examples,
    with the counts written in the cells, as PNG bytes."""
    counts = confusion.detach().cpu().numpy().astype(np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape, np.float64), where=rows > 0)
    n = len(categories)
    side = min(12.0, 2.5 + 0.45 * n)
    fig = _figure(side + 1.5, side)
    ax = fig.subplots()
    image = ax.imshow(share, vmin=0.0, vmax=1.0, cmap="Blues")
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_xticks(range(n), labels=list(categories), rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(n), labels=list(categories), fontsize="small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize="x-small",
                            color="white" if share[i, j] > 0.5 else "black")
    return _png(fig)


def confusion_image(confusion: torch.Tensor, categories: Sequence[str]) -> np.ndarray:
    """`confusion_png` decoded: (H, W, 3) uint8 RGB (what TensorBoard's image summary takes)."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(confusion_png(confusion, categories), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_confusion_png(path: Path, confusion: torch.Tensor, categories: Sequence[str]) -> None:
    """RUN/confusion.png (see `confusion_png`)."""
    _save(path, confusion_png(confusion, categories))
