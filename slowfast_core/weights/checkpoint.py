"""Loading SlowFast checkpoints of every published format into our model.

`load_checkpoint` (a file) and `load_weights` (a file or a registry name) read the file
(`weights.checkpoint_file`: format detection, safe unpickling, key conversion), check that its architecture
signature (`weights.signature`) fits the asked preset, and build an eval-mode model with its meta
(categories, preprocessing). Every failure is one `CheckpointError` line naming the file and what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.model.config import get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import ModelMeta, Preprocessing
from slowfast_core.weights.checkpoint_file import check_keys, existing_file, read_checkpoint
from slowfast_core.weights.convert_mmaction2 import MMACTION2_PREPROCESSING
from slowfast_core.weights.native import config_from_metadata, preprocessing_from_metadata
from slowfast_core.weights.signature import config_signature, matching_preset, state_signature

logger = logging.getLogger(__name__)

HEAD_KEYS: tuple[str, str] = ("blocks.6.proj.weight", "blocks.6.proj.bias")


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
    from slowfast_core.weights.detection import is_detection_state, not_a_classifier  # lazy: avoids a cycle

    if is_detection_state(state, metadata):
        raise not_a_classifier(path)
    if preprocessing is None and layout == "mmaction2":
        preprocessing = MMACTION2_PREPROCESSING
    found = state_signature(state, source=f"checkpoint {path}")
    if metadata is not None:  # our own format: the file says what it is
        return _load_native(path, state, metadata, arch=arch, num_classes=num_classes,
                            map_location=map_location, overrides=overrides, input_size=input_size)
    detected = matching_preset(found)
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
    check_keys(model, state, path, skip=HEAD_KEYS if fresh_head else ())
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
    check_keys(model, state, path, skip=HEAD_KEYS if fresh_head else ())
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
    p = existing_file(path)
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
