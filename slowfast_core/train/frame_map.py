"""AVA's frame-mAP at IoU 0.5: per class, average precision over every key frame's detections, then the mean.

As AVA's evaluation (the PASCAL VOC protocol of its `object_detection_evaluation`): for each class, detections
of all key frames are ranked by score; each is a true positive when its best-overlapping ground-truth box of
that class in the same key frame has IoU >= 0.5 and was not matched before, else a false positive. AP is the
area under the precision-recall curve with precision made monotonically decreasing (VOC 2010+). Classes
without ground truth are left out of the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slowfast_core.detect.tracker import iou

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class FrameDetections:
    """One key frame: ground-truth boxes with their class sets, and detected boxes with per-class scores."""

    gt_boxes: Sequence[tuple[float, float, float, float]]
    gt_labels: Sequence[set[int]]
    boxes: Sequence[tuple[float, float, float, float]]
    scores: np.ndarray  # (len(boxes), num_classes)


def average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """VOC AP of detections (`scores`, true-positive flags) against `num_gt` ground-truth boxes."""
    if num_gt == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hits = tp[order].astype(np.float64)
    cum_tp = np.cumsum(hits)
    precision = cum_tp / np.arange(1, len(hits) + 1)
    recall = cum_tp / num_gt
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [1.0]])
    for i in range(len(precision) - 2, -1, -1):  # make precision monotonically decreasing
        precision[i] = max(precision[i], precision[i + 1])
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def class_ap(frames: Sequence[FrameDetections], cls: int, *, iou_threshold: float = IOU_THRESHOLD) -> float:
    """AP of class `cls` over all key frames (NaN when no ground truth of it exists)."""
    scores, tps, num_gt = [], [], 0
    for f in frames:
        gt = [b for b, labels in zip(f.gt_boxes, f.gt_labels) if cls in labels]
        num_gt += len(gt)
        taken = [False] * len(gt)
        order = np.argsort(-f.scores[:, cls], kind="stable") if len(f.boxes) else []
        for d in order:
            overlaps = [iou(f.boxes[d], g) for g in gt]
            best = int(np.argmax(overlaps)) if overlaps else -1
            hit = best >= 0 and overlaps[best] >= iou_threshold and not taken[best]
            if hit:
                taken[best] = True
            scores.append(float(f.scores[d, cls]))
            tps.append(hit)
    return average_precision(np.asarray(scores), np.asarray(tps, bool), num_gt)


def frame_map(frames: Sequence[FrameDetections], num_classes: int, *,
              iou_threshold: float = IOU_THRESHOLD) -> tuple[float, list[float]]:
    """(mean AP over classes with ground truth, per-class AP with NaN for classes without any)."""
    per_class = [class_ap(frames, c, iou_threshold=iou_threshold) for c in range(num_classes)]
    valid = [ap for ap in per_class if not np.isnan(ap)]
    return (float(np.mean(valid)) if valid else float("nan")), per_class
