"""Reading SlowFast checkpoint files of every published format: their tensors with our key names.

Formats (`read_state_dict` tells them apart by content, not by file name):
- "pytorchvideo": PyTorchVideo `.pyth` (`{"model_state": ...}`, keys `blocks.N.multipathway_blocks...`). Our
  keys are the same, so these load as they are; state dicts saved from our own model are this format too.
- "pytorchvideo-resnet": PyTorchVideo's single-pathway ResNet layout (`slow_r50`: `blocks.N.res_blocks...`).
- "pyslowfast": PySlowFast `.pyth` (`{"model_state": ...}`, keys `s1.pathway0_stem.conv.weight`, ...).
- "caffe2": PySlowFast's Caffe2 `.pkl` (`{"blobs": {name: ndarray}}`), the original release.
- "mmaction2": mmaction2's `.pth` (`{"meta": ..., "state_dict": ...}`, keys `backbone.slow_path.conv1.conv.weight`,
  `cls_head.fc_cls.weight`); see `convert_mmaction2` (its laterals have no BN: the `*_mmaction2` presets).
A plain state dict, or one inside a `model_state` / `state_dict` / `model` entry, is accepted for each.

Files are never fully unpickled: torch files go through `torch.load(weights_only=True)` and Caffe2 pickles
through an unpickler that only builds numpy arrays, so a checkpoint from the internet cannot run code.
Every failure is one `CheckpointError` line naming the file and what to do.

Signatures (what the tensor shapes say about the architecture) are in `weights.signature`; building a model
from a checkpoint is `weights.checkpoint`.
"""

from __future__ import annotations

import pickle
import re
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.weights.convert_mmaction2 import is_mmaction2_state, mmaction2_to_ours
from slowfast_core.weights.native import META_KEY
from slowfast_core.weights.convert_pyslowfast import (
    caffe2_to_pyslowfast_key,
    is_caffe2_optimizer_blob,
    pyslowfast_to_ours_key,
)

#: Dict entries that wrap the state dict in training checkpoints (PySlowFast/PyTorchVideo, Lightning, torchvision).
STATE_WRAPPERS: tuple[str, ...] = ("model_state", "state_dict", "model")

_ZIP_MAGIC = b"PK\x03\x04"
#: The first pickle of a legacy (pre-1.6, non-zip) torch.save file is this number.
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _one_line(exc: BaseException) -> str:
    """An exception as a short single line, for embedding in a CheckpointError message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def existing_file(path: str | Path) -> Path:
    """`path` as a Path, or CheckpointError when it is missing or not a regular file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(
            f"checkpoint file {p} not found: check the path, or use a weights name (slowfast weights list)"
        )
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} is not a file: pass the .pyth/.pkl file itself")
    return p


def _truncated(path: Path, exc: BaseException | None = None) -> CheckpointError:
    why = f" ({_one_line(exc)})" if exc is not None else ""
    return CheckpointError(f"checkpoint {path} is truncated or corrupt{why}: download or copy the file again")


def _not_a_checkpoint(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"{path} is not a checkpoint ({what}): pass a PyTorchVideo/PySlowFast .pyth or a PySlowFast Caffe2 .pkl file"
    )


def _torch_load(path: Path, *, zipped: bool) -> Any:
    """torch.load with weights_only=True, its failures turned into CheckpointErrors."""
    if zipped and not zipfile.is_zipfile(path):
        # A zip's directory sits at its end: a file that starts like a torch zip but has none was cut short.
        raise _truncated(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise CheckpointError(
                f"checkpoint {path} holds Python objects besides tensors (e.g. a whole pickled model), which are "
                "not unpickled for safety: re-save it with torch.save(model.state_dict(), path)"
            ) from None
        raise _truncated(path, exc) from None
    except (EOFError, RuntimeError, ValueError, OSError, struct.error) as exc:  # struct: a pickle of junk bytes
        raise _truncated(path, exc) from None


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles only dicts, lists, numbers, strings and numpy arrays: never runs code from the file."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("collections", "OrderedDict"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy.core") and hasattr(np, "_core"):  # numpy >= 2 moved numpy.core to numpy._core
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def _caffe2_load(path: Path, *, looks_pickled: bool) -> Any:
    """Unpickle a Caffe2 .pkl (Python 2 pickles need latin1 for their byte strings)."""
    try:
        with path.open("rb") as f:
            return _NumpyUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refusing"):
            raise CheckpointError(
                f"checkpoint {path} is a pickle with Python objects other than arrays ({_one_line(exc)}), not "
                "unpickled for safety: use a Caffe2 .pkl of blobs or a torch state dict"
            ) from None
        if looks_pickled and "truncated" in str(exc):
            raise _truncated(path, exc) from None
        raise _not_a_checkpoint(path, _one_line(exc)) from None
    except EOFError as exc:
        if looks_pickled:
            raise _truncated(path, exc) from None
        raise _not_a_checkpoint(path, "empty or unreadable") from None
    except Exception as exc:  # noqa: BLE001 - arbitrary bytes make pickle fail in arbitrary ways
        raise _not_a_checkpoint(path, _one_line(exc)) from None


def _load_file(path: Path) -> tuple[Any, bool]:
    """The file's top-level object and whether it came from a Caffe2 pickle (numpy blobs)."""
    with path.open("rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if not head:
        raise _not_a_checkpoint(path, "the file is empty")
    if head == _ZIP_MAGIC:
        return _torch_load(path, zipped=True), False
    # Not a zip: a Caffe2 pickle, or a legacy torch file whose first pickle is torch's magic number. Reading
    # the first pickle (safely) tells them apart and, for Caffe2, already is the whole checkpoint.
    obj = _caffe2_load(path, looks_pickled=head.startswith(b"\x80"))
    if type(obj) is int and obj == _LEGACY_TORCH_MAGIC:
        return _torch_load(path, zipped=False), False
    return obj, True


def _unwrap(obj: Any, path: Path) -> Mapping[str, Any]:
    """The state dict inside a training checkpoint (or `obj` itself when it already is one)."""
    if isinstance(obj, Mapping):
        if "blobs" in obj and isinstance(obj["blobs"], Mapping):  # Caffe2 .pkl
            return obj["blobs"]
        for key in STATE_WRAPPERS:
            if key in obj and isinstance(obj[key], Mapping):
                return obj[key]
        return obj
    raise _not_a_checkpoint(path, f"it holds a {type(obj).__name__}, not a state dict")


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop DistributedDataParallel's `module.` prefix when every key has it."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def _tensors(raw: Mapping[str, Any], path: Path, *, caffe2: bool) -> dict[str, torch.Tensor]:
    """String-keyed tensors of `raw` (numpy blobs become tensors; Caffe2 optimiser blobs are dropped)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            continue
        if caffe2:
            if is_caffe2_optimizer_blob(key) or not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
                continue
            out[key] = torch.from_numpy(np.array(value, copy=True))  # own, writable, contiguous memory
        elif isinstance(value, torch.Tensor):
            out[key] = value
    if not out:
        raise _not_a_checkpoint(path, "it holds no tensors")
    return out


def _layout(state: Mapping[str, torch.Tensor], caffe2: bool) -> str | None:
    """The key layout of `state`: pytorchvideo, pytorchvideo-resnet, pyslowfast, caffe2, mmaction2, or None."""
    if caffe2:
        return "caffe2" if any(caffe2_to_pyslowfast_key(k) for k in state) else None
    if is_mmaction2_state(state):
        return "mmaction2"
    if any(".multipathway_" in k for k in state):
        return "pytorchvideo"
    if "blocks.0.conv.weight" in state:
        return "pytorchvideo-resnet"
    if any(k.startswith("s1.pathway") for k in state):
        return "pyslowfast"
    return None


_RESNET_BLOCK = re.compile(r"^blocks\.([0-4])\.")


def _convert(state: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """`state` with keys in our layout; keys without a counterpart are kept so strict loading reports them."""
    if layout == "pytorchvideo":
        out = dict(state)
    elif layout == "pytorchvideo-resnet":  # one pathway: blocks.N.X -> blocks.N.multipathway_blocks.0.X
        out = {}
        for k, v in state.items():
            if _RESNET_BLOCK.match(k):
                k = _RESNET_BLOCK.sub(r"blocks.\1.multipathway_blocks.0.", k)
            elif k.startswith("blocks.5.proj."):
                k = "blocks.6.proj." + k[len("blocks.5.proj."):]
            out[k] = v
    elif layout == "pyslowfast":
        out = {pyslowfast_to_ours_key(k) or k: v for k, v in state.items()}
    elif layout == "mmaction2":
        out = mmaction2_to_ours(state)
    elif layout == "caffe2":
        out = {}
        for k, v in state.items():
            psf = caffe2_to_pyslowfast_key(k)
            out[(pyslowfast_to_ours_key(psf) if psf else None) or k] = v
    else:
        raise ValueError(f"unknown layout {layout!r}")
    # Caffe2 (and pre-0.4.1 torch) BN layers have no step counter; ours do. It does not affect inference.
    for k in [k for k in out if k.endswith(".running_mean")]:
        out.setdefault(k[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return out


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """Read the checkpoint at `path`; return its tensors with OUR key names, and the format's name.

    The format ("pytorchvideo", "pytorchvideo-resnet", "pyslowfast", "caffe2" or "mmaction2") is recognised
    from the content. Raises CheckpointError when the file is missing, truncated, not a checkpoint, or of an unknown
    key layout.
    """
    state, layout, _ = read_checkpoint(path)
    return state, layout


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], str, dict[str, Any] | None]:
    """`read_state_dict` plus our format's metadata (`weights.native`), None for other formats."""
    p = existing_file(path)
    obj, caffe2 = _load_file(p)
    metadata = obj.get(META_KEY) if isinstance(obj, Mapping) and not caffe2 else None
    raw = _unwrap(obj, p)
    state = _tensors(raw, p, caffe2=caffe2)
    if not caffe2:
        state = _strip_prefix(state)
    layout = _layout(state, caffe2)
    if layout is None:
        first = next(iter(state))
        raise CheckpointError(
            f"checkpoint {p} has keys of an unknown layout (first: {first!r}): expected PyTorchVideo "
            "(blocks.N...), PySlowFast (s1.pathway0_stem...), Caffe2 (conv1_w, res2_0_branch2a_w...) or mmaction2 "
            "(backbone.slow_path...) names"
        )
    _check_finite(state, p)
    return _convert(state, layout), layout, dict(metadata) if isinstance(metadata, Mapping) else None


def _check_finite(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """CheckpointError naming the tensors that hold NaN or infinite values: such weights give NaN for every
    input (a diverged training run, a damaged file), so they are refused, never loaded as trained."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"checkpoint {path} holds NaN or infinite values in {len(bad)} tensor{'s' if len(bad) != 1 else ''} "
            f"({sample_keys(bad)}): it is damaged or from a diverged training run; use another checkpoint"
        )


def sample_keys(keys: list[str]) -> str:
    """The first two of `keys` and how many there are, for naming offending tensors in one error line."""
    shown = ", ".join(keys[:2])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > 2 else shown


def check_keys(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path, *, skip: tuple[str, ...]) -> None:
    """CheckpointError unless `state` has exactly the keys of `model` (a SlowFast or a detection model; those in
    `skip` aside) with the same shapes."""
    expected = {k: v for k, v in model.state_dict().items() if k not in skip}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and k not in skip]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing keys {sample_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {sample_keys(unexpected)}")
    if wrong:
        problems.append(f"shape mismatch {sample_keys(wrong)}")
    if problems:
        raise CheckpointError(
            f"checkpoint {path} does not fit {model.config.name}: {'; '.join(problems)}: "
            "use a complete checkpoint saved from this architecture"
        )
