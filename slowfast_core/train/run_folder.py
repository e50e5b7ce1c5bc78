"""A training run's folder: its file names, the resumable state, and reading/writing that state.

`train.loop` writes the run (see its doc for the layout); `save_last` writes RUN/checkpoint_last.pyth with
everything `--resume` needs (optimizer, scaler, RNG, `TrainState`), `load_resume` reads it back, and
`write_run_json` records the command, resolved config, versions and dataset summary.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slowfast_core.version import __version__
from slowfast_core.errors import ConfigError
from slowfast_core.model.net import SlowFast
from slowfast_core.train import distributed
from slowfast_core.train.data import DatasetSplit
from slowfast_core.train.recipe import TrainConfig
from slowfast_core.weights.native import save_model

LAST, BEST = "checkpoint_last.pyth", "checkpoint_best.pyth"
METRICS, CONFUSION, CURVES, RUN_JSON = "metrics.jsonl", "confusion.csv", "curves.png", "run.json"


@dataclass
class TrainState:
    """Everything besides model and optimizer that `--resume` needs to continue exactly."""

    epoch: int = 0  # the epoch in progress (or next to start)
    batch: int = 0  # batches of `epoch` already done
    step: int = 0  # optimizer steps so far
    horizon: int = 0  # epochs the schedule runs for (set after epoch 1 when --minutes bounds the run)
    best_top1: float = -1.0
    seconds: float = 0.0  # training time so far (for --minutes)
    partial: dict = field(default_factory=dict)  # sums of the epoch in progress
    skipped: list = field(default_factory=list)  # example paths that could not be read

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _versions() -> dict[str, str]:
    import cv2

    return {"slowfast_live": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__, "platform": platform.platform()}


def write_run_json(out: Path, config: TrainConfig, data: DatasetSplit, d: distributed.Dist) -> None:
    """RUN/run.json: the command, resolved config, versions, seed and dataset summary (written, then renamed)."""
    info = {
        "command": sys.argv, "config": config.to_json(), "versions": _versions(), "seed": config.seed,
        "world_size": d.world_size, "device": str(d.device), "categories": data.categories,
        "dataset": {"source": data.source, "train": len(data.train), "val": len(data.val), "notes": data.notes,
                    "train_per_class": data.counts("train"), "val_per_class": data.counts("val")},
    }
    tmp = out / (RUN_JSON + ".part")
    tmp.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / RUN_JSON)


def load_resume(out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: Any) -> TrainState:
    """The state of RUN/checkpoint_last.pyth, loaded into `model` and `optimizer`."""
    path = out / LAST
    if not path.is_file():
        raise ConfigError(f"nothing to resume in {out}: {LAST} is missing (start a new run without --resume)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(obj["model_state"])
        train_state = obj["train_state"]
        optimizer.load_state_dict(train_state["optimizer"])
        if scaler is not None and train_state.get("scaler"):
            scaler.load_state_dict(train_state["scaler"])
        torch.set_rng_state(train_state["torch_rng"])
        state = TrainState(**train_state["state"])
    except (KeyError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise ConfigError(f"{path} cannot be resumed ({' '.join(str(exc).split())[:120]}): start a new run") from None
    return state


def save_last(out: Path, net: SlowFast, optimizer: torch.optim.Optimizer, scaler: Any, state: TrainState) -> None:
    """RUN/checkpoint_last.pyth: the model in our format plus what `load_resume` needs to continue exactly."""
    extra = {"train_state": {"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                             "torch_rng": torch.get_rng_state(), "state": state.to_dict()}}
    save_model(net, out / LAST, base=getattr(net, "_base", None), extra=extra)
