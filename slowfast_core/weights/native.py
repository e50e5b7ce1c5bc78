"""Our own checkpoint format: a PyTorchVideo-layout state dict plus everything needed to use it.

A file written by `slowfast train` (or `save_model`) is a torch zip holding
```
{"model_state": {...}, "slowfast_live": {"format": 1, "config": {...}, "categories": [...],
 "preprocessing": {...}, "weights": "...", "base": "..."}, "train_state": {...} (optional, for --resume)}
```
so `--weights RUN/checkpoint_best.pyth` works in predict, run and the window with the right architecture,
labels and preprocessing, and nothing else given. Everything in it is plain data (loads with
`torch.load(weights_only=True)`). Writing goes to a temporary file that is renamed, so a failed write (full
disk) leaves the previous file intact.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.model.config import SlowFastConfig
from slowfast_core.spec import ModelMeta, Preprocessing

#: The top-level key that marks our format.
META_KEY = "slowfast_live"
FORMAT = 1


def model_metadata(config: SlowFastConfig, meta: ModelMeta, *, base: str | None = None) -> dict[str, Any]:
    """Plain-data description of a model: config, categories, preprocessing, origin (and its base model)."""
    cfg = {k: v for k, v in dataclasses.asdict(config).items() if k != "aliases"}
    return {
        "format": FORMAT,
        "config": cfg,
        "categories": list(meta.categories),
        "preprocessing": {**dataclasses.asdict(meta.preprocessing), "mean": list(meta.preprocessing.mean),
                          "std": list(meta.preprocessing.std)},
        "weights": meta.weights,
        "base": base,
    }


def config_from_metadata(data: Mapping[str, Any], path: Path) -> SlowFastConfig:
    """The SlowFastConfig a checkpoint's metadata describes; CheckpointError when it is not readable."""
    try:
        fields = {f.name for f in dataclasses.fields(SlowFastConfig)}
        cfg = {k: v for k, v in dict(data["config"]).items() if k in fields and k != "aliases"}
        return SlowFastConfig(**cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has unreadable model metadata ({exc}): re-save it") from None


def preprocessing_from_metadata(data: Mapping[str, Any]) -> Preprocessing:
    """The Preprocessing stored in a checkpoint's metadata (defaults for missing fields)."""
    p = dict(data.get("preprocessing") or {})
    return Preprocessing(
        mean=tuple(p.get("mean", Preprocessing.mean)), std=tuple(p.get("std", Preprocessing.std)),
        short_side=int(p.get("short_side", Preprocessing.short_side)), crop=p.get("crop", Preprocessing.crop),
    )


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to `path` through a temporary file in the same folder, fsynced, then renamed.

    A full disk raises CheckpointError (one line) and leaves any previous file at `path` untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "No space left" in str(exc)
        reason = "the disk is full" if full else " ".join(str(exc).split())[:160]
        raise CheckpointError(f"could not write checkpoint {path}: {reason}: free space or choose another --out; "
                              "the previous checkpoint is kept") from None


def save_model(model: torch.nn.Module, path: str | os.PathLike[str], *, base: str | None = None,
               extra: Mapping[str, Any] | None = None) -> Path:
    """Write `model` (a SlowFast, or one wrapped by DDP) in our format; `extra` adds top-level entries."""
    net = getattr(model, "module", model)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    obj: dict[str, Any] = {"model_state": state, META_KEY: model_metadata(net.config, net.meta, base=base)}
    obj.update(extra or {})
    atomic_save(obj, Path(path))
    return Path(path)
