"""My models: classifiers a person taught, stored with their data (next to the sessions folder).

`~/.local/share/slowfast-live/models/` (the sessions root's sibling; `$SLOWFAST_MODELS` overrides) holds one
checkpoint per taught model in our native format, `<slug>.pyth`, and a small `<slug>.json` beside it (name,
labels, base model, accuracy, sessions, date) so the Model menu lists them without loading any weights.
`--weights NAME` finds them by name everywhere a weights name works (after files and before the registry's
"unknown weights" error). Saving goes through a temporary file that is renamed: a full disk leaves every
existing model as it was.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from slowfast_core.errors import SlowFastError

logger = logging.getLogger(__name__)

ENV_MODELS = "SLOWFAST_MODELS"
SUFFIX = ".pyth"


class MyModelError(SlowFastError):
    """A taught model cannot be saved or found (a name in use, a full disk, an unwritable folder)."""


@dataclass(frozen=True)
class MyModel:
    """One saved taught model: its checkpoint file and what the menu shows."""

    name: str
    path: Path
    labels: list[str] = field(default_factory=list)
    base: str | None = None
    arch: str = ""
    val_top1: float | None = None
    created: str = ""

    def describe(self) -> str:
        acc = f", {self.val_top1:.0%} on held-out" if self.val_top1 is not None else ""
        return f"{self.name} ({', '.join(self.labels)}; base {self.base or self.arch}{acc})"


def models_dir(sessions_root: Path | None = None) -> Path:
    """$SLOWFAST_MODELS, else `models/` next to the sessions root (default: the sessions' default root)."""
    env = os.environ.get(ENV_MODELS)
    if env:
        return Path(env).expanduser()
    from slowfast_core.userdirs import default_root

    return Path(sessions_root or default_root()).parent / "models"


def slug(name: str) -> str:
    """The file stem for `name` (MyModelError for an empty one)."""
    from slowfast_core.files import slugify

    if not name or not name.strip():
        raise MyModelError("the model name is empty: give the taught model a name")
    return slugify(name)


def list_my_models(folder: Path | None = None) -> list[MyModel]:
    """Saved models, newest first; a damaged sidecar still lists the model by its file name."""
    folder = folder or models_dir()
    out = []
    for file in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        if file.name.startswith("."):
            continue
        info: dict[str, Any] = {}
        try:
            info = json.loads(file.with_suffix(".json").read_text(encoding="utf-8"))
            if not isinstance(info, dict):
                info = {}
        except (OSError, ValueError):
            pass
        val = info.get("val_top1")
        out.append(MyModel(name=str(info.get("name") or file.stem), path=file,
                           labels=[str(x) for x in info.get("labels") or []], base=info.get("base"),
                           arch=str(info.get("arch") or ""), val_top1=float(val) if isinstance(val, (int, float)) else None,
                           created=str(info.get("created") or "")))
    return sorted(out, key=lambda m: m.created, reverse=True)


def find_my_model(name: str, folder: Path | None = None) -> Path | None:
    """The checkpoint of the saved model called `name` (by its name or file stem), or None."""
    for model in list_my_models(folder):
        if name in (model.name, model.path.stem):
            return model.path
    return None


def _open_new(path: Path) -> BinaryIO:
    """The file a saved checkpoint is written to (its own function: the full-disk test points it at /dev/full)."""
    return open(path, "wb")


def save_my_model(checkpoint: Path, name: str, info: dict[str, Any], *, replace: bool = False,
                  folder: Path | None = None) -> MyModel:
    """Copy a taught checkpoint into My models as `name` (with its sidecar); MyModelError on any failure.

    Written to temporary files and renamed, checkpoint last: a failure (full disk) leaves the folder as it was.
    """
    folder = folder or models_dir()
    stem = slug(name)
    target = folder / f"{stem}{SUFFIX}"
    if target.exists() and not replace:
        raise MyModelError(f"a taught model named {name!r} exists already ({target}): choose another name")
    sidecar = {**info, "name": name.strip(), "created": datetime.now().astimezone().isoformat(timespec="seconds")}
    tmp_model, tmp_info = folder / f".{stem}{SUFFIX}.part", folder / f".{stem}.json.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(checkpoint, "rb") as src, _open_new(tmp_model) as dst:
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        tmp_info.write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp_info, target.with_suffix(".json"))
        os.replace(tmp_model, target)
    except OSError as exc:
        tmp_model.unlink(missing_ok=True)
        tmp_info.unlink(missing_ok=True)
        reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
        raise MyModelError(f"could not save the taught model {name!r} in {folder}: {reason}; nothing was changed "
                           "(the current model and the sessions are as they were)") from None
    logger.info("saved taught model %s as %s", name, target)
    return MyModel(name=sidecar["name"], path=target, labels=list(info.get("labels") or []), base=info.get("base"),
                   arch=str(info.get("arch") or ""), val_top1=info.get("val_top1"), created=sidecar["created"])
