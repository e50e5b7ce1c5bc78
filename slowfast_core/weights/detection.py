"""Detection checkpoints: PyTorchVideo's `slowfast_r50_detection` file and our own, loaded into SlowFastDetection.

PyTorchVideo's `DetectionBBoxNetwork` keys are `model.blocks.N...` (the backbone, the classifier's keys) and
`detection_head.proj.*`; ours are the same without the `model.` prefix. Our format is the classifier's
(`weights.native`) with `"task": "detect"` and the detection config in its metadata, so a checkpoint says
which kind of model it holds and each loader refuses the other kind in one line.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.model.detection import (
    DetectionConfig,
    SlowFastDetection,
    get_detection_config,
    is_detection_arch,
    untrained_detection_meta,
)
from slowfast_core.spec import ModelMeta
from slowfast_core.weights.checkpoint_file import check_keys, existing_file, read_checkpoint
from slowfast_core.weights.native import META_KEY, atomic_save, model_metadata, preprocessing_from_metadata

logger = logging.getLogger(__name__)

DETECTION_HEAD_PREFIX = "detection_head."
HEAD_KEYS = (DETECTION_HEAD_PREFIX + "proj.weight", DETECTION_HEAD_PREFIX + "proj.bias")
PYTORCHVIDEO_PREFIX = "model."
TASK_DETECT = "detect"


def is_detection_state(state: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> bool:
    """True when a checkpoint holds a detection network (an RoI head), ours or PyTorchVideo's."""
    if metadata is not None and metadata.get("task") == TASK_DETECT:
        return True
    return any(k.startswith(DETECTION_HEAD_PREFIX) for k in state)


def not_a_classifier(path: Path) -> CheckpointError:
    """The one line for a detection checkpoint given where a whole-frame classifier is expected."""
    return CheckpointError(
        f"checkpoint {path} is a per-person detection model (an RoI head over person boxes), not a whole-frame "
        "classifier: use it with --detect (predict, run) or --task detect (evaluate), or pass a classifier")


def not_a_detector(path: Path) -> CheckpointError:
    """The one line for a classifier checkpoint given where a detection model is expected."""
    return CheckpointError(
        f"checkpoint {path} is a whole-frame classifier, not a per-person detection model: leave out "
        "--detect, or pass a detection checkpoint (slowfast train --task detect, or SLOWFAST_8x8_R50_DETECTION)")


def detection_metadata(model: SlowFastDetection, *, base: str | None = None) -> dict[str, Any]:
    """Our metadata for a detection model: the backbone's description plus the task and detection config."""
    data = model_metadata(model.config.backbone, model.meta, base=base)
    cfg = {k: v for k, v in dataclasses.asdict(model.config).items() if k not in ("aliases", "backbone")}
    return {**data, "task": TASK_DETECT, "detection": cfg}


def save_detection_model(model: SlowFastDetection, path: str | Path, *, base: str | None = None,
                         extra: Mapping[str, Any] | None = None) -> Path:
    """Write `model` in our format (atomically: a failed write keeps the previous file)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    obj: dict[str, Any] = {"model_state": state, META_KEY: detection_metadata(model, base=base), **(extra or {})}
    atomic_save(obj, Path(path))
    return Path(path)


def _config_from_metadata(data: Mapping[str, Any], path: Path) -> DetectionConfig:
    from slowfast_core.weights.native import config_from_metadata

    backbone = config_from_metadata(data, path)
    det = dict(data.get("detection") or {})
    fields = {f.name for f in dataclasses.fields(DetectionConfig)} - {"backbone", "aliases"}
    try:
        return DetectionConfig(backbone=backbone, **{k: v for k, v in det.items() if k in fields})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has unreadable detection metadata ({exc}): re-save it") from None


def load_detection_checkpoint(path: str | Path, *, arch: str | None = None, input_size: int | None = None,
                              num_classes: int | None = None, weights_name: str | None = None,
                              categories: tuple[str, ...] | None = None) -> SlowFastDetection:
    """An eval-mode SlowFastDetection with the weights of the file at `path` (ours or PyTorchVideo's).

    arch: the preset for a PyTorchVideo file (default slowfast_r50_detection); ours names its own. A classifier
    checkpoint raises CheckpointError (`not_a_detector`). num_classes other than the file's: a fresh head.
    """
    p = existing_file(path)
    state, _layout, metadata = read_checkpoint(p)
    if not is_detection_state(state, metadata):
        raise not_a_detector(p)
    if metadata is not None:
        config = _config_from_metadata(metadata, p)
        meta = ModelMeta(categories=tuple(str(c) for c in metadata.get("categories") or ()),
                         preprocessing=preprocessing_from_metadata(metadata), weights=weights_name or str(p))
    else:
        state = {k.removeprefix(PYTORCHVIDEO_PREFIX): v for k, v in state.items()}
        if arch is not None and not is_detection_arch(arch):
            raise CheckpointError(f"{arch} is not a detection architecture: use slowfast_r50_detection")
        config = get_detection_config(arch or "slowfast_r50_detection")
        head = state.get(DETECTION_HEAD_PREFIX + "proj.weight")
        if head is not None:
            config = config.replace(num_classes=int(head.shape[0]))
        base = ava_untrained_meta(config)
        meta = dataclasses.replace(base, categories=categories or base.categories, weights=weights_name or str(p))
    fresh = num_classes is not None and num_classes != config.num_classes
    if fresh:
        logger.warning("checkpoint %s has a %d-class head but %d classes were asked for: a fresh head", p,
                       config.num_classes, num_classes)
        config = config.replace(num_classes=num_classes)
        state = {k: v for k, v in state.items() if k not in HEAD_KEYS}
        meta = dataclasses.replace(meta, categories=ava_untrained_meta(config).categories)
    if len(meta.categories) != config.num_classes:
        meta = dataclasses.replace(meta, categories=ava_untrained_meta(config).categories)
    if input_size is not None:
        meta = dataclasses.replace(meta, preprocessing=dataclasses.replace(meta.preprocessing,
                                                                           short_side=int(input_size)))
    model = SlowFastDetection(config, meta=meta)
    check_keys(model, state, p, skip=HEAD_KEYS if fresh else ())  # type: ignore[arg-type]  # any model's keys
    model.load_state_dict(state, strict=not fresh)
    return model.eval()


def load_detection_weights(spec: str, *, arch: str | None = None, input_size: int | None = None,
                           num_classes: int | None = None) -> SlowFastDetection:
    """A detection model from a file, or from a detection registry name (downloaded on first use)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return load_detection_checkpoint(path, arch=arch, input_size=input_size, num_classes=num_classes)
    from slowfast_core.weights.detection_registry import resolve_detection_weights

    resolved = resolve_detection_weights(spec)
    entry = resolved.entry
    return load_detection_checkpoint(resolved.path, arch=arch or entry.arch, input_size=input_size,
                                     num_classes=num_classes, weights_name=entry.name,
                                     categories=entry.categories)


def ava_untrained_meta(config: DetectionConfig) -> ModelMeta:
    """Random weights' metadata with AVA's class names for an 80-way head (else "class i")."""
    from slowfast_core.weights.labels import ava_labels

    return untrained_detection_meta(config, ava_labels() if config.num_classes == 80 else None)


def create_detection_model(
    name: str, *, weights: str | None = None, seed: int | None = None, categories: Sequence[str] | None = None,
    input_size: int | None = None, num_classes: int | None = None,
) -> SlowFastDetection:
    """The detection architecture `name` in eval mode, random (from `seed`) or with `weights` (file or registry name).

    categories: the classes of random weights (their count sets the head). input_size: the short side to run at.
    """
    if weights is not None:
        return load_detection_weights(weights, arch=name, input_size=input_size, num_classes=num_classes)
    if categories is not None:
        num_classes = len(categories)
    config = get_detection_config(name, **({} if num_classes is None else {"num_classes": num_classes}))
    meta = ava_untrained_meta(config)
    if categories is not None:
        meta = replace(meta, categories=tuple(categories))
    if input_size is not None:
        meta = replace(meta, preprocessing=replace(meta.preprocessing, short_side=int(input_size)))
    if seed is None:
        return SlowFastDetection(config, meta=meta).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SlowFastDetection(config, meta=meta).eval()
