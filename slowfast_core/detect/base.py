"""The `Detector` interface: a frame in, person boxes out (pixels of that frame, with a score).

Implementations: torchvision's Faster R-CNN person detectors (`detect.torchvision_detector`) and the synthetic
scene's own boxes (`detect.scene_boxes`, for tests and the demo: the boxes a perfect detector would give).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from slowfast_core.errors import ConfigError


@dataclass(frozen=True)
class PersonBox:
    """One detected person: x1, y1, x2, y2 in pixels of the frame it was found in, and a score in [0, 1]."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def scaled(self, sx: float, sy: float) -> "PersonBox":
        """This box in a frame `sx` times as wide and `sy` times as tall."""
        return PersonBox(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy, self.score)


def clip_box(box: PersonBox, width: int, height: int) -> PersonBox | None:
    """`box` clipped to a `width` x `height` frame; None when nothing of it (less than one pixel) is inside."""
    x1, y1 = min(max(box.x1, 0.0), width), min(max(box.y1, 0.0), height)
    x2, y2 = min(max(box.x2, 0.0), width), min(max(box.y2, 0.0), height)
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        return None
    return PersonBox(x1, y1, x2, y2, box.score)


def check_boxes(boxes: list[PersonBox], width: int, height: int, *, what: str = "box") -> list[PersonBox]:
    """The boxes that overlap the frame, clipped to it. A box with x2 <= x1 or y2 <= y1, or not finite,
    raises ConfigError (one line naming it); one wholly outside the frame is dropped (nobody is there)."""
    out = []
    for b in boxes:
        if not all(np.isfinite(b.xyxy)) or b.x2 <= b.x1 or b.y2 <= b.y1:
            raise ConfigError(f"{what} {tuple(round(v, 2) for v in b.xyxy)} is not a box: x2 must exceed x1 "
                              "and y2 exceed y1")
        clipped = clip_box(b, width, height)
        if clipped is not None:
            out.append(clipped)
    return out


class Detector(ABC):
    """Finds people in one frame. Not thread-safe: one caller (the worker, or predict) at a time."""

    #: a short name for reports and the status bar
    name: str = "detector"

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[PersonBox]:
        """People in `image` ((H, W, 3) BGR uint8): boxes in its pixels, best first, inside the frame."""

    def close(self, timeout: float = 5.0) -> None:
        """Stop what this detector runs in the background (none here), waiting at most `timeout` seconds; it
        still detects afterwards. Called by the engine when the per-person step is replaced or the engine stops."""
