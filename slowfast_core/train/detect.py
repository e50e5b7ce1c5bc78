"""Training and evaluating the per-person action head on an AVA-layout dataset, with ground-truth boxes.

As AVA training does, the boxes given to the RoI head are the annotated ones. The backbone comes from a
classifier checkpoint (`--init`, e.g. `slowfast train` on synthetic actions; PyTorchVideo likewise starts AVA
from Kinetics weights) and stays fixed, so each key frame's RoI features are computed once and the head (a
linear layer per class, sigmoid, binary cross-entropy) trains on them in seconds. Evaluation is AVA's frame-mAP
at IoU 0.5 (`train.frame_map`), with ground-truth boxes scored by the model.

A key frame at time t takes the window centred on t (AVA labels a window's middle frame), cut by the one
window cutter (`predict.window_inputs`) from the video's frames resized once to the model's short side.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slowfast_core.errors import CheckpointError, ConfigError
from slowfast_core.model.detection import (
    DETECTION_PRESETS,
    SlowFastDetection,
    get_detection_config,
)
from slowfast_core.spec import ModelMeta, Preprocessing
from slowfast_core.train.ava import AvaDataset, KeyFrame, load_ava_dataset
from slowfast_core.train.frame_map import FrameDetections, frame_map

logger = logging.getLogger(__name__)

BACKBONE_PREFIXES = tuple(f"blocks.{i}." for i in range(5))


@dataclass(frozen=True)
class RoIFeatures:
    """Pooled RoI features of a split's key frames: (N boxes, C), which key frame each box is from, targets."""

    features: torch.Tensor
    frame_of_box: np.ndarray
    targets: np.ndarray  # (N, num_classes) multi-hot
    frames: list[KeyFrame]


def detection_from_classifier(base: str, categories: tuple[str, ...]) -> SlowFastDetection:
    """A detection model whose backbone is the classifier `base`'s (file or registry name), with a fresh head."""
    from slowfast_core.weights.checkpoint import load_weights

    classifier = load_weights(base)
    arch = next((d.name for d in DETECTION_PRESETS.values() if d.backbone.name == classifier.config.name), None)
    if arch is None:
        raise CheckpointError(f"{base} is a {classifier.config.name} classifier: no detection network is built on "
                              f"that backbone (use one of {', '.join(d.backbone.name for d in DETECTION_PRESETS.values())})")
    config = get_detection_config(arch, num_classes=len(categories), backbone=classifier.config)
    prep = replace(classifier.meta.preprocessing, crop="full")
    model = SlowFastDetection(config, meta=ModelMeta(categories=categories, preprocessing=prep, weights=None))
    backbone = {k: v for k, v in classifier.state_dict().items() if k.startswith(BACKBONE_PREFIXES)}
    missing, _ = model.load_state_dict(backbone, strict=False)
    not_loaded = [k for k in missing if k.startswith(BACKBONE_PREFIXES)]
    if not_loaded:  # pragma: no cover - the presets share the backbone code, so this means a broken file
        raise CheckpointError(f"{base} lacks backbone weights {not_loaded[:2]}: use a complete classifier checkpoint")
    return model.eval()


def _video_frames(path: Path, short_side: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Every frame of `path` resized once to `short_side` (RGB uint8), and their timestamps."""
    from slowfast_core.video.decode import VideoReader
    from slowfast_core.video.preprocess import prepare_frame

    frames, times = [], []
    with VideoReader(path) as video:
        for _index, timestamp, bgr in video.frames():
            frames.append(prepare_frame(bgr, short_side))
            times.append(timestamp)
    return frames, np.asarray(times, np.float64)


def key_frame_end(timestamp: float, model: SlowFastDetection) -> float:
    """The last grid instant of the window centred on `timestamp`."""
    from slowfast_core.video.windows import window_lead

    return timestamp + window_lead(model.config.geometry) / 2.0


@dataclass(frozen=True)
class KeyFrameClip:
    """One key frame's window inputs [(1, 3, T_p, H, W)] and its boxes (N, 4) in input pixels."""

    number: int
    frame: KeyFrame
    inputs: list[torch.Tensor]
    boxes: torch.Tensor


def key_frame_clips(model: SlowFastDetection, data: AvaDataset, split: str, *,
                    progress: Callable[[int, int], None] | None = None) -> Iterator[KeyFrameClip]:
    """Each key frame of `split` as the model sees it: its window's inputs and its boxes in input pixels."""
    from slowfast_core.video.file_windows import window_inputs

    frames = data.splits.get(split)
    if not frames:
        raise ConfigError(f"{data.root} has no {split}.csv rows")
    prep: Preprocessing = model.meta.preprocessing
    cache: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
    for n, kf in enumerate(frames):
        if kf.video not in cache:
            cache.clear()  # rows are grouped by video: keep one decoded video at a time
            cache[kf.video] = _video_frames(data.video_path(kf.video), prep.short_side)
        video, times = cache[kf.video]
        inputs, _cut = window_inputs(video, times, key_frame_end(kf.timestamp, model), model.config.geometry, prep)
        h, w = inputs[0].shape[-2:]
        boxes = torch.tensor([[x1 * w, y1 * h, x2 * w, y2 * h] for x1, y1, x2, y2 in kf.boxes])  # (N, 4)
        yield KeyFrameClip(n, kf, inputs, boxes)
        if progress is not None:
            progress(n + 1, len(frames))


def with_batch_index(boxes: torch.Tensor, index: int) -> torch.Tensor:
    """(N, 4) boxes -> (N, 5) [index, x1, y1, x2, y2], RoIAlign's layout."""
    return torch.cat([torch.full((len(boxes), 1), float(index)), boxes], dim=1)


def roi_features(model: SlowFastDetection, data: AvaDataset, split: str, *,
                 progress: Callable[[int, int], None] | None = None) -> RoIFeatures:
    """Pooled RoI features of every ground-truth box of `split`, one backbone pass per key frame."""
    feats, owner, targets = [], [], []
    frames = []
    for clip in key_frame_clips(model, data, split, progress=progress):
        with torch.inference_mode():
            fmap = model.feature_map(clip.inputs)
            feats.append(model.detection_head.pool(fmap, with_batch_index(clip.boxes, 0)))  # (N, C)
        owner.extend([clip.number] * len(clip.boxes))
        targets.append(clip.frame.targets(model.config.num_classes))
        frames.append(clip.frame)
    return RoIFeatures(torch.cat(feats), np.asarray(owner), np.concatenate(targets), frames)


def flipped(inputs: list[torch.Tensor], boxes: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A batch mirrored left to right: [(B, 3, T, H, W)] and (N, 5) boxes in input pixels (the synthetic
    actions are symmetric under a horizontal flip, as the paper's flip augmentation assumes of people)."""
    w = inputs[0].shape[-1]
    mirrored = torch.stack([boxes[:, 0], w - boxes[:, 3], boxes[:, 2], w - boxes[:, 1], boxes[:, 4]], dim=1)
    return [x.flip(-1) for x in inputs], mirrored


def train_end_to_end(model: SlowFastDetection, data: AvaDataset, *, epochs: int, lr: float = 1e-3,
                     batch_size: int = 4, seed: int = 0, flip: bool = True,
                     progress: Callable[[int, int], None] | None = None) -> float:
    """Train the backbone and the head together on the train split's key frames (AdamW, BCE with logits, batch
    norm in training mode, half the batches mirrored when `flip`); returns the last epoch's mean loss and leaves
    `model` in eval mode.

    The head-only path (`fit_head` on fixed features) is as good as the backbone is; a backbone that has not
    learnt the actions (untrained, or pretrained briefly) learns them here from the people themselves. The
    windows are cut once and kept in memory (small inputs: this is for the synthetic proofs and small sets)."""
    torch.manual_seed(seed)
    clips = list(key_frame_clips(model, data, "train"))
    targets = [torch.from_numpy(c.frame.targets(model.config.num_classes)) for c in clips]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    order = torch.Generator().manual_seed(seed)
    mean_loss = 0.0
    model.train()
    try:
        for epoch in range(epochs):
            losses = []
            perm = torch.randperm(len(clips), generator=order).tolist()
            for start in range(0, len(perm), batch_size):
                batch = perm[start:start + batch_size]
                inputs = [torch.cat([clips[i].inputs[p] for i in batch]) for p in range(len(clips[0].inputs))]
                boxes = torch.cat([with_batch_index(clips[i].boxes, b) for b, i in enumerate(batch)])  # (N, 5)
                y = torch.cat([targets[i] for i in batch])  # (N, num_classes)
                if flip and bool(torch.rand((), generator=order) < 0.5):
                    inputs, boxes = flipped(inputs, boxes)
                opt.zero_grad()
                loss = nn.functional.binary_cross_entropy_with_logits(model(inputs, boxes), y)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            mean_loss = float(np.mean(losses))
            if progress is not None:
                progress(epoch + 1, epochs)
    finally:
        model.eval()
    return mean_loss


def fit_head(proj: nn.Linear, train: RoIFeatures, *, epochs: int = 300, lr: float = 0.05, seed: int = 0) -> float:
    """Train `proj` on the features (full batch, Adam, BCE with logits); returns the final loss.

    The features are standardised per channel for the optimisation (raw RoI features of an untrained or
    differently-scaled backbone span orders of magnitude), and the scaling is folded back into `proj`'s weight
    and bias afterwards, so the model itself still takes raw features.
    """
    torch.manual_seed(seed)
    x = train.features.clone()
    mean, std = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    z = (x - mean) / std
    y = torch.from_numpy(train.targets)
    lin = nn.Linear(x.shape[1], proj.out_features)
    opt = torch.optim.Adam(lin.parameters(), lr=lr, weight_decay=1e-3)
    loss = torch.tensor(0.0)
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(lin(z), y)
        loss.backward()
        opt.step()
    with torch.no_grad():  # lin((x - mean) / std) == (W / std) x + (b - (W / std) mean)
        weight = lin.weight / std
        proj.weight.copy_(weight)
        proj.bias.copy_(lin.bias - weight @ mean)
    proj.eval()
    return float(loss.detach())


def score_map(model: SlowFastDetection, data: RoIFeatures) -> tuple[float, list[float]]:
    """Frame-mAP@0.5 of the model's head over ground-truth boxes (each box scored per class)."""
    with torch.inference_mode():
        probs = torch.sigmoid(model.detection_head.proj(data.features)).numpy()
    per_frame = []
    for n, kf in enumerate(data.frames):
        rows = data.frame_of_box == n
        per_frame.append(FrameDetections(kf.boxes, kf.labels, kf.boxes, probs[rows]))
    return frame_map(per_frame, model.config.num_classes)


@dataclass(frozen=True)
class DetectTrainResult:
    out: Path
    checkpoint: Path
    frame_map_gt: float
    per_class: list[float]
    train_boxes: int
    val_boxes: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {"out": str(self.out), "checkpoint": str(self.checkpoint), "frame_map_gt": self.frame_map_gt,
                "per_class_ap": [None if np.isnan(a) else a for a in self.per_class],
                "train_boxes": self.train_boxes, "val_boxes": self.val_boxes, "seconds": round(self.seconds, 2)}


def train_detection(data_root: str | Path, *, init: str, out: str | Path, epochs: int = 300, lr: float = 0.05,
                    seed: int = 0, end_to_end_epochs: int = 0, end_to_end_lr: float = 1e-3,
                    progress: Callable[[str, int, int], None] | None = None) -> DetectTrainResult:
    """Train the RoI head on `data_root`'s train split (backbone from the classifier `init`), evaluate on val,
    write `out/detector.pyth` and `out/metrics.json`. The dataset is read before `out` is made.

    end_to_end_epochs > 0: first train the backbone with the head for that many epochs (`train_end_to_end`),
    then fit the head on the trained backbone's features as without it."""
    from slowfast_core.weights.detection import save_detection_model

    if epochs < 1:
        raise ConfigError(f"--epochs {epochs} must be at least 1")
    if end_to_end_epochs < 0:
        raise ConfigError(f"--end-to-end-epochs {end_to_end_epochs} must be 0 (the head only) or more")
    t0 = time.perf_counter()
    data = load_ava_dataset(data_root)
    if "train" not in data.splits:
        raise ConfigError(f"{data.root} has no train.csv: the head trains on its rows")
    torch.manual_seed(seed)  # the fresh head's initial weights: the same seed trains the same model
    model = detection_from_classifier(init, data.categories)
    step = (lambda what: (lambda d, t: progress(what, d, t))) if progress else (lambda what: None)
    if end_to_end_epochs:
        train_end_to_end(model, data, epochs=end_to_end_epochs, lr=end_to_end_lr, seed=seed,
                         progress=step("end-to-end epochs"))
    train = roi_features(model, data, "train", progress=step("train features"))
    val = roi_features(model, data, "val", progress=step("val features")) if "val" in data.splits else train
    loss = fit_head(model.detection_head.proj, train, epochs=epochs, lr=lr, seed=seed)
    mean, per_class = score_map(model, val)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = save_detection_model(model, out / "detector.pyth", base=init)
    result = DetectTrainResult(out, checkpoint, mean, per_class, len(train.features), len(val.features),
                               time.perf_counter() - t0)
    (out / "metrics.json").write_text(json.dumps({**result.to_json(), "loss": loss}, indent=1) + "\n")
    logger.info("detection head: frame-mAP@0.5 (GT boxes) %.3f on %d val boxes", mean, len(val.features))
    return result


def evaluate_detection(weights: str, data_root: str | Path, *, split: str = "val") -> tuple[float, list[float], int]:
    """(frame-mAP@0.5 with ground-truth boxes, per-class AP, boxes) of a detection checkpoint on `split`."""
    from slowfast_core.weights.detection import load_detection_weights

    data = load_ava_dataset(data_root)
    model = load_detection_weights(weights)
    if len(model.meta.categories) != len(data.categories):
        raise ConfigError(f"{weights} predicts {len(model.meta.categories)} actions but {data.root} labels "
                          f"{len(data.categories)}: evaluate a model trained on this label map")
    feats = roi_features(model, data, split)
    mean, per_class = score_map(model, feats)
    return mean, per_class, len(feats.features)
