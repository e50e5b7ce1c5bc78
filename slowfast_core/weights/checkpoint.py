"""Reading SlowFast checkpoints of every published format into our model.

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
"""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.model.config import PRESETS, STAGE_DEPTHS, SlowFastConfig, get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import ModelMeta, Preprocessing
from slowfast_core.weights.convert_mmaction2 import MMACTION2_PREPROCESSING, is_mmaction2_state, mmaction2_to_ours
from slowfast_core.weights.native import META_KEY, config_from_metadata, preprocessing_from_metadata
from slowfast_core.weights.convert_pyslowfast import (
    caffe2_to_pyslowfast_key,
    is_caffe2_optimizer_blob,
    pyslowfast_to_ours_key,
)

logger = logging.getLogger(__name__)

#: Dict entries that wrap the state dict in training checkpoints (PySlowFast/PyTorchVideo, Lightning, torchvision).
STATE_WRAPPERS: tuple[str, ...] = ("model_state", "state_dict", "model")
HEAD_KEYS: tuple[str, str] = ("blocks.6.proj.weight", "blocks.6.proj.bias")

_ZIP_MAGIC = b"PK\x03\x04"
#: The first pickle of a legacy (pre-1.6, non-zip) torch.save file is this number.
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


# ----------------------------------------------------------------------------------------------- reading


def _one_line(exc: BaseException) -> str:
    """An exception as a short single line, for embedding in a CheckpointError message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _existing_file(path: str | Path) -> Path:
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
    except (EOFError, RuntimeError, ValueError, OSError) as exc:
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
    p = _existing_file(path)
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
            f"({_sample(bad)}): it is damaged or from a diverged training run; use another checkpoint"
        )


# ------------------------------------------------------------------------------------------- architecture


@dataclass(frozen=True)
class PathwaySignature:
    """What the weights say about one pathway: stem width and temporal kernel, conv_a temporal kernels."""

    stem_dim: int
    stem_temporal_kernel: int
    temporal_kernels: tuple[tuple[int, ...], ...]  # per stage res2..res5, one per block

    @property
    def depth(self) -> int | None:
        """ResNet depth from the block counts (50, 101), or None when they fit no depth."""
        counts = tuple(len(k) for k in self.temporal_kernels)
        return next((d for d, c in STAGE_DEPTHS.items() if c == counts), None)


@dataclass(frozen=True)
class ArchSignature:
    """The architecture facts readable from tensor shapes. T, tau and alpha are not among them."""

    pathways: tuple[PathwaySignature, ...]
    fusion_kernel: int | None  # temporal kernel of the T-conv lateral connections; None: no fusion weights
    fusion_norm: bool = True  # the laterals have BN (PySlowFast, PyTorchVideo); False: bare convs (mmaction2)

    def describe(self) -> str:
        """A short human description, for error messages."""
        first = self.pathways[0]
        depth = first.depth
        parts = [
            f"{len(self.pathways)} pathway(s)",
            f"R{depth}" if depth else f"blocks {tuple(len(k) for k in first.temporal_kernels)}",
            f"stem width {first.stem_dim}",
        ]
        if len(first.temporal_kernels) > 2:
            res4 = first.temporal_kernels[2]
            parts.append(f"{sum(k > 1 for k in res4)}/{len(res4)} temporal res4 blocks")
        parts.append(f"fusion kernel {self.fusion_kernel}" if self.fusion_kernel else "no fusion conv")
        if self.fusion_kernel and not self.fusion_norm:
            parts.append("no lateral BN")
        return ", ".join(parts)


def config_signature(config: SlowFastConfig) -> ArchSignature:
    """The signature a model built from `config` has (no model is built)."""
    pathways = tuple(
        PathwaySignature(p.stem_dim, p.stem_temporal_kernel, tuple(s.temporal_kernels for s in p.stages))
        for p in config.pathway_specs()
    )
    tconv = config.has_fusion and config.fusion == "tconv"
    return ArchSignature(pathways, config.fusion_kernel if tconv else None, config.fusion_norm if tconv else True)


def state_signature(state: Mapping[str, torch.Tensor], *, source: str = "state dict") -> ArchSignature:
    """Read the signature from tensor shapes of a state dict in our layout; CheckpointError if it is no SlowFast."""
    pathways = []
    p = 0
    while (stem := state.get(f"blocks.0.multipathway_blocks.{p}.conv.weight")) is not None:
        stages = []
        for s in range(1, 5):
            kernels = []
            prefix = f"blocks.{s}.multipathway_blocks.{p}.res_blocks"
            while (w := state.get(f"{prefix}.{len(kernels)}.branch2.conv_a.weight")) is not None:
                kernels.append(int(w.shape[2]))  # (C_out, C_in, kt, 1, 1)
            stages.append(tuple(kernels))
        pathways.append(PathwaySignature(int(stem.shape[0]), int(stem.shape[2]), tuple(stages)))  # (C, 3, kt, 7, 7)
        p += 1
    if not pathways or not all(all(st) for pw in pathways for st in pw.temporal_kernels):
        raise CheckpointError(
            f"{source} holds no complete SlowFast/ResNet backbone (no stem conv or empty res stages): "
            "use a SlowFast, Slow-only or Fast-only checkpoint"
        )
    fusion = state.get("blocks.0.multipathway_fusion.conv_fast_to_slow.weight")
    if fusion is None:
        return ArchSignature(tuple(pathways), None)
    return ArchSignature(tuple(pathways), int(fusion.shape[2]), "blocks.0.multipathway_fusion.norm.weight" in state)


def _matching_preset(signature: ArchSignature) -> str | None:
    """The first preset (in PRESETS order) whose signature equals `signature`."""
    return next((name for name, cfg in PRESETS.items() if config_signature(cfg) == signature), None)


def detect_arch(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The preset whose architecture fits `state_dict` (our key layout), from tensor shapes alone.

    Read from the weights: which pathways exist (one pathway: Slow if its stem is 64 wide with temporal
    kernel 1, Fast if 8 wide with kernel 5), depth (res4 has 6 blocks in R50, 23 in R101), the lateral
    T-conv's temporal kernel, and which res4 blocks have temporal conv_a kernels (all in slowfast_8x8_r101,
    the first 6 in slowfast_16x8_r101_50_50).
    Not in the weights: T, tau and alpha (no tensor depends on them). As in PySlowFast's official configs,
    an R50 with fusion kernel 7 is taken as slowfast_8x8_r50 and one with kernel 5 as slowfast_4x16_r50;
    pass `arch` explicitly (with overrides) for other clip geometries.
    """
    signature = state_signature(state_dict)
    name = _matching_preset(signature)
    if name is None:
        raise CheckpointError(
            f"no preset fits this state dict ({signature.describe()}): pass arch= with overrides that match it"
        )
    return name


# ----------------------------------------------------------------------------------------------- loading


def _head_classes(state: Mapping[str, torch.Tensor]) -> int | None:
    """Classes of the checkpoint's classifier, or None when it has none."""
    w = state.get(HEAD_KEYS[0])
    return int(w.shape[0]) if w is not None else None


def _categories(num_classes: int) -> tuple[str, ...]:
    """Kinetics-400 names for a 400-way head, else placeholders `class i`."""
    if num_classes == 400:
        from slowfast_core.weights.labels import kinetics400_labels

        return tuple(kinetics400_labels())
    return tuple(f"class {i}" for i in range(num_classes))


def _sample(keys: list[str]) -> str:
    shown = ", ".join(keys[:2])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > 2 else shown


def _check_keys(model: SlowFast, state: Mapping[str, torch.Tensor], path: Path, *, skip: tuple[str, ...]) -> None:
    """CheckpointError unless `state` has exactly the model's keys (but `skip`) with the same shapes."""
    expected = {k: v for k, v in model.state_dict().items() if k not in skip}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and k not in skip]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing keys {_sample(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_sample(unexpected)}")
    if wrong:
        problems.append(f"shape mismatch {_sample(wrong)}")
    if problems:
        raise CheckpointError(
            f"checkpoint {path} does not fit {model.config.name}: {'; '.join(problems)}: "
            "use a complete checkpoint saved from this architecture"
        )


def _load(
    path: Path,
    *,
    arch: str | None,
    num_classes: int | None,
    map_location: str | torch.device,
    overrides: Mapping[str, object],
    preprocessing: Preprocessing | None,
    categories: tuple[str, ...] | None,
    weights_name: str,
    input_size: int | None = None,
) -> SlowFast:
    """Shared body of load_checkpoint and load_weights: read, check, describe, build with its meta, load.

    preprocessing None: the checkpoint's own (our format), mmaction2's for its checkpoints (ImageNet mean/std),
    else the anchors' normalisation at the architecture's input size. input_size: the short side to run at
    instead of the preprocessing's (None: keep it).
    """
    state, layout, metadata = read_checkpoint(path)
    if preprocessing is None and layout == "mmaction2":
        preprocessing = MMACTION2_PREPROCESSING
    found = state_signature(state, source=f"checkpoint {path}")
    if metadata is not None:  # our own format: the file says what it is
        return _load_native(path, state, metadata, arch=arch, num_classes=num_classes,
                            map_location=map_location, overrides=overrides, input_size=input_size)
    detected = _matching_preset(found)
    if arch is None:
        if detected is None:
            raise CheckpointError(
                f"checkpoint {path} fits no known architecture ({found.describe()}): pass a matching arch"
            )
        arch = detected
    head = _head_classes(state)
    wanted = num_classes if num_classes is not None else (head if head is not None else 400)
    config = get_config(arch, num_classes=wanted, **overrides)
    if config_signature(config) != found:
        fits = (f"it holds {detected} weights: use arch {detected}" if detected
                else f"no preset fits it ({found.describe()})")
        raise CheckpointError(f"checkpoint {path} does not fit architecture {config.name}: {fits}")

    fresh_head = head is not None and wanted != head
    if fresh_head:
        logger.warning(
            "checkpoint %s has a %d-class head but %d classes were asked for: keeping the backbone, "
            "starting a fresh (untrained) %d-class head", path, head, wanted, wanted,
        )
        state = {k: v for k, v in state.items() if k not in HEAD_KEYS}
    if fresh_head or categories is None or len(categories) != wanted:
        categories = _categories(wanted)
    prep = preprocessing if preprocessing is not None else Preprocessing(short_side=config.input_size)
    meta = ModelMeta(categories=tuple(categories), preprocessing=_sized(prep, input_size), weights=weights_name)
    model = SlowFast(config, meta=meta)
    _check_keys(model, state, path, skip=HEAD_KEYS if fresh_head else ())
    model.load_state_dict(state, strict=not fresh_head)
    model.eval().to(map_location)
    logger.info("loaded %s (%s format) into %s", path, layout, config.name)
    return model


def _sized(prep: Preprocessing, input_size: int | None) -> Preprocessing:
    """`prep` run at the short side `input_size` (None: as it is)."""
    return prep if input_size is None else replace(prep, short_side=int(input_size))


def _load_native(
    path: Path, state: dict[str, torch.Tensor], metadata: Mapping[str, Any], *, arch: str | None,
    num_classes: int | None, map_location: str | torch.device, overrides: Mapping[str, object],
    input_size: int | None = None,
) -> SlowFast:
    """A model from our own format: config, categories and preprocessing come from the file."""
    config = config_from_metadata(metadata, path)
    if arch is not None and get_config(arch).name != config.name:
        raise CheckpointError(f"checkpoint {path} holds a {config.name} model, not {arch}: leave out the arch")
    if overrides:
        config = config.replace(**overrides)
    categories = tuple(str(c) for c in metadata.get("categories") or ())
    fresh_head = num_classes is not None and num_classes != config.num_classes
    if fresh_head:
        logger.warning("checkpoint %s has a %d-class head but %d classes were asked for: keeping the backbone, "
                    "starting a fresh (untrained) %d-class head", path, config.num_classes, num_classes, num_classes)
        config = config.replace(num_classes=num_classes)
        state = {k: v for k, v in state.items() if k not in HEAD_KEYS}
        categories = _categories(config.num_classes)
    if len(categories) != config.num_classes:
        categories = _categories(config.num_classes)
    meta = ModelMeta(categories=categories, preprocessing=_sized(preprocessing_from_metadata(metadata), input_size),
                     weights=str(path))
    model = SlowFast(config, meta=meta)
    _check_keys(model, state, path, skip=HEAD_KEYS if fresh_head else ())
    model.load_state_dict(state, strict=not fresh_head)
    model.eval().to(map_location)
    logger.info("loaded %s (slowfast-live format) into %s", path, config.name)
    return model


def load_checkpoint(
    path: str | Path,
    *,
    arch: str | None = None,
    num_classes: int | None = None,
    map_location: str | torch.device = "cpu",
    input_size: int | None = None,
) -> SlowFast:
    """An eval-mode model with the weights of the checkpoint at `path`, loaded strictly, built with its meta.

    arch: a preset name; None detects it from the weights (`detect_arch`). A file for another architecture
    raises CheckpointError naming the preset that fits. num_classes: None keeps the checkpoint's head; another
    count keeps the backbone and starts a fresh head (logged as a WARNING). `model.meta` gets Kinetics-400
    names for a 400-way head (else "class i"), the format's preprocessing (the anchors'; mmaction2's for its
    files; run at `input_size` when given), and `weights=str(path)`.
    """
    p = _existing_file(path)
    return _load(p, arch=arch, num_classes=num_classes, map_location=map_location, overrides={},
                 preprocessing=None, categories=None, weights_name=str(p), input_size=input_size)


def load_weights(
    spec: str, *, arch: str | None = None, num_classes: int | None = None, input_size: int | None = None,
    **overrides: object,
) -> SlowFast:
    """An eval-mode model for `spec`: an existing checkpoint file, else a registered weights name.

    Anything but an existing file goes to the registry (`resolve_weights`), which raises WeightsError for
    unknown names and missing paths. Registered weights are downloaded on first use (with a progress bar and
    checksum) and bring their architecture, categories and preprocessing. arch: None takes the entry's (or
    detects it from a file); given for a registered name, it must be the entry's. num_classes: None keeps the
    checkpoint's head; another number keeps the backbone and starts a fresh head. input_size: the short side
    to run at (None: the weights' own preprocessing's). Overrides change config fields of the architecture.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return _load(path, arch=arch, num_classes=num_classes, map_location="cpu", overrides=overrides,
                     preprocessing=None, categories=None, weights_name=str(path), input_size=input_size)

    from slowfast_core.weights.registry import resolve_weights  # lazy: the registry may download

    resolved = resolve_weights(spec, download=True, progress=True)
    entry = resolved.entry
    if entry is None:
        return _load(Path(resolved.path), arch=arch, num_classes=num_classes, map_location="cpu",
                     overrides=overrides, preprocessing=None, categories=None,
                     weights_name=str(resolved.path), input_size=input_size)
    if arch is not None and get_config(arch).name != get_config(entry.arch).name:
        raise CheckpointError(
            f"weights {entry.name} ({resolved.path}) are for {entry.arch}, not {arch}: use arch {entry.arch}"
        )
    return _load(Path(resolved.path), arch=arch or entry.arch, num_classes=num_classes, map_location="cpu",
                 overrides=overrides, preprocessing=entry.preprocessing, categories=tuple(entry.categories),
                 weights_name=entry.name, input_size=input_size)
