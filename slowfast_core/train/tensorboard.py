"""TensorBoard event files for a training run (`slowfast train --tensorboard`), in PySlowFast's convention.

PySlowFast (`TENSORBOARD.ENABLE`) writes a `runs-<dataset>` folder in its output directory with scalars under
"Train/…" and "Val/…" and the validation confusion matrix as a figure; we write the same into
RUN/runs-<dataset name>/ (`tensorboard --logdir RUN` shows it): per epoch Train/loss, Train/Top1_err (%),
Train/lr, Train/clips_per_s, Val/loss, Val/Top1_err (%), Val/mean_class_acc, and Val/Confusion_Matrix (the PNG
of `plots.confusion_png`) whenever the best epoch changes. Only rank 0 writes.

The event files are written by tensorboardX (a small writer: numpy and protobuf), not
`torch.utils.tensorboard`, which needs the whole TensorBoard server package installed to write a file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from slowfast_core.errors import ConfigError

#: (metrics.jsonl key, TensorBoard tag, scale): top-1 becomes PySlowFast's error in percent
SCALARS: tuple[tuple[str, str, str], ...] = (
    ("train_loss", "Train/loss", "value"),
    ("train_top1", "Train/Top1_err", "error"),
    ("lr", "Train/lr", "value"),
    ("clips_per_s", "Train/clips_per_s", "value"),
    ("val_loss", "Val/loss", "value"),
    ("val_top1", "Val/Top1_err", "error"),
    ("val_mean_class", "Val/mean_class_acc", "value"),
)


def log_dir(out: Path, dataset: str) -> Path:
    """RUN/runs-<dataset folder name> (PySlowFast's `runs-{TRAIN.DATASET}`)."""
    path = Path(dataset.rstrip("/"))
    base = path.parent.name if path.suffix.lower() == ".csv" else path.name  # DATA/train.csv -> DATA
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", base or "data")
    return out / f"runs-{name}"


def check_available() -> None:
    """ConfigError when tensorboardX is missing (before the run starts)."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboardX package: pip install tensorboardX") from None


class EpochEvents:
    """Writes one epoch's metrics (and a new best confusion matrix) as TensorBoard events."""

    def __init__(self, folder: Path) -> None:
        from tensorboardX import SummaryWriter

        self.folder = folder
        self.writer = SummaryWriter(logdir=str(folder), flush_secs=5)

    def add_epoch(self, record: dict, confusion: torch.Tensor | None = None,
                  categories: Sequence[str] = ()) -> None:
        """Scalars of a metrics.jsonl record at step = its epoch; the confusion matrix figure when given."""
        epoch = int(record["epoch"])
        for key, tag, scale in SCALARS:
            value = record.get(key)
            if value is None or not math.isfinite(float(value)):
                continue
            self.writer.add_scalar(tag, 100.0 * (1.0 - value) if scale == "error" else float(value), epoch)
        if confusion is not None:
            from slowfast_core.train.plots import confusion_image

            image = confusion_image(confusion, categories)  # (H, W, 3) uint8 RGB
            self.writer.add_image("Val/Confusion_Matrix", np.ascontiguousarray(image), epoch, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
