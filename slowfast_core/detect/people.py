"""Who is doing what in one window: person boxes on the key frame, the RoI head per box, the tracker.

`PeopleStep` is the one implementation of the per-window detection path, used by `predict --detect`, the live
worker and `bench detect`: the detector looks at the window's key frame (its middle frame, AVA's key frame),
boxes are scaled to the model's input, `SlowFastDetection` gives per-box sigmoid probabilities, the tracker
gives each box its person's id, and that person's own Smoother steadies the label shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from slowfast_core.detect.base import Detector, PersonBox
from slowfast_core.detect.tracker import Tracker
from slowfast_core.errors import ConfigError, InferenceError
from slowfast_core.model.detection import SlowFastDetection
from slowfast_core.records import PersonRecord

#: default threshold for showing an action (multi-label: every action above it is listed)
ACTION_THRESHOLD = 0.5


@dataclass(frozen=True)
class PeopleResult:
    """One window's people and what it cost: detector and head milliseconds."""

    people: tuple[PersonRecord, ...]
    detector_ms: float
    head_ms: float
    probs: np.ndarray = field(repr=False)  # (N, num_classes) sigmoid, one row per person in `people` order


def boxes_tensor(boxes: list[PersonBox], sx: float, sy: float) -> torch.Tensor:
    """(N, 5) [batch 0, x1, y1, x2, y2] in model-input pixels, from boxes in key-frame pixels scaled by sx, sy."""
    if not boxes:
        return torch.zeros((0, 5), dtype=torch.float32)
    rows = [[0.0, b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy] for b in boxes]
    return torch.tensor(rows, dtype=torch.float32)


class PeopleStep:
    """Detector + RoI head + tracker for one window at a time (not thread-safe: one owner)."""

    def __init__(self, model: SlowFastDetection, detector: Detector, *, threshold: float = ACTION_THRESHOLD,
                 tracker: Tracker | None = None, max_actions: int = 3) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"action threshold must be in [0, 1], got {threshold}")
        self.model = model
        self.detector = detector
        self.threshold = float(threshold)
        self.max_actions = max_actions
        self.tracker = tracker or Tracker(model.meta.categories, threshold=threshold)

    def run(self, inputs: list[torch.Tensor], key_frame_bgr: np.ndarray, *, window: int | None = None,
            smooth: bool = True) -> PeopleResult:
        """The people of one window: `inputs` [(1, 3, T_p, H, W)], its key frame (any size, BGR uint8)."""
        t0 = time.perf_counter()
        boxes = self.detector.detect(key_frame_bgr)
        t1 = time.perf_counter()
        kh, kw = key_frame_bgr.shape[:2]
        in_h, in_w = inputs[0].shape[-2:]
        categories = self.model.meta.categories
        if boxes:
            with torch.inference_mode():
                logits = self.model(inputs, boxes_tensor(boxes, in_w / kw, in_h / kh))  # (N, C)
            flat = logits.float()
            if not bool(torch.isfinite(flat).all()):
                where = "" if window is None else f" for window {window}"
                raise InferenceError(f"the detection model's output{where} is not a number: no prediction was made; "
                                     "the weights are broken (use other weights)")
            probs = torch.sigmoid(flat).numpy()
        else:
            probs = np.zeros((0, len(categories)), np.float32)
        t2 = time.perf_counter()
        people = []
        for person, p in zip(self.tracker.update(boxes), probs):
            order = [int(i) for i in np.argsort(-p, kind="stable") if p[i] >= self.threshold][: self.max_actions]
            actions = tuple((categories[i], float(p[i])) for i in order)
            label = confidence = None
            if smooth:
                shown = self.tracker.smooth(person.track_id, p)
                label, confidence = shown.label, shown.confidence
            b = person.box
            people.append(PersonRecord(track=person.track_id, box=(b.x1 / kw, b.y1 / kh, b.x2 / kw, b.y2 / kh),
                                       score=b.score, actions=actions, label=label, confidence=confidence))
        return PeopleResult(tuple(people), 1000 * (t1 - t0), 1000 * (t2 - t1), probs)
