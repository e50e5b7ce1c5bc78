"""The synthetic scene's own boxes as a detector: what a perfect person detector would report.

A person detector cannot be downloaded here, so tests, the demo and `bench detect` use the boxes the
multi-actor scene knows (`video.multi_actor`), through the same `Detector` interface as torchvision's.
"""

from __future__ import annotations

import numpy as np

from slowfast_core.detect.base import Detector, PersonBox, check_boxes


class SceneBoxesDetector(Detector):
    """Reports fixed boxes given in pixels of a `width` x `height` frame, scaled to whatever frame it is shown."""

    name = "scene boxes"

    def __init__(self, boxes: list[tuple[float, float, float, float]], *, width: int, height: int) -> None:
        self.boxes = [PersonBox(*b) for b in boxes]
        self.width, self.height = int(width), int(height)

    @classmethod
    def of_scene(cls, scene: object) -> "SceneBoxesDetector":
        """The detector of a `MultiActorScene` (or a source holding one as `.scene`)."""
        s = getattr(scene, "scene", scene)
        return cls([s.box(i) for i in range(s.num_actors)], width=s.width, height=s.height)  # type: ignore[attr-defined]

    def detect(self, image: np.ndarray) -> list[PersonBox]:
        h, w = image.shape[:2]
        sx, sy = w / self.width, h / self.height
        return check_boxes([b.scaled(sx, sy) for b in self.boxes], w, h)
