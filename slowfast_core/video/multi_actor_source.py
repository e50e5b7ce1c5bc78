"""`synthetic:actions...,actors=N`: several scripted actors side by side as a live source, with known boxes.

The synthetic scene's pacing (`SyntheticSource`) over `MultiActorScene` frames. Each
actor repeats its own script; `truth(number)` says what each one does where; the scene's own person detector
(its boxes, for tests, the demo and `bench detect`) is `detect.scene_boxes.SceneBoxesDetector.of_scene(scene)`.

Spec: `synthetic:actions[:A-B][@SEED],actors=N` (classes A..B, 2 s per entry, N actors, 320x120 frames).
"""

from __future__ import annotations

import re

import numpy as np

from slowfast_core.errors import SourceError
from slowfast_core.video.actions import MAX_CLASSES
from slowfast_core.video.multi_actor import ActorTruth, MultiActorScene, random_scripts
from slowfast_core.video.synthetic import SyntheticSource

_SPEC = re.compile(r"^synthetic:actions(?::(\d+)-(\d+))?(?:@(\d+))?,actors=(\d+)$")
STAGE_SIZE = (106, 120)  # one actor's column (width, height) in the default frame
ENTRY_SECONDS = 2.0


class MultiActorSource(SyntheticSource):
    """A live source of `scene`'s frames at `fps` (paced like a camera, or as fast as read)."""

    def __init__(self, scene: MultiActorScene, *, paced: bool = True, frames: int | None = None, seed: int = 0) -> None:
        super().__init__(scene.width, scene.height, scene.fps, paced=paced, frames=frames, seed=seed)
        self.scene = scene

    @property
    def name(self) -> str:
        return f"{self.scene.num_actors} scripted actors {self.width}x{self.height}@{self.fps:g}"

    def truth(self, number: int) -> list[ActorTruth]:
        """Each actor's id, box and class at frame `number`."""
        return self.scene.truth(number)

    def render(self, number: int) -> np.ndarray:
        """The scene's frame `number`, without the frame-number strip: across a small frame the strip would cover
        every actor's top rows, which the training videos (`synth --actors`) do not have; media time says the
        frame's number instead."""
        return self.scene.frame(number)


def multi_actor_source(actors: int, first: int = 0, last: int = 3, *, seed: int = 0, paced: bool = True,
                       stage: tuple[int, int] = STAGE_SIZE, seconds: float = ENTRY_SECONDS,
                       frames: int | None = None) -> MultiActorSource:
    """N actors performing classes first..last, `seconds` per entry, each in a `stage`-sized column."""
    if not 0 <= first <= last < MAX_CLASSES:
        raise SourceError(f"action classes {first}-{last} are out of range: use 0-{MAX_CLASSES - 1}")
    classes = list(range(first, last + 1))
    scripts = random_scripts(actors, classes, entries=max(4, len(classes)), seconds=seconds, seed=seed)
    scene = MultiActorScene(scripts, width=stage[0] * actors, height=stage[1], seed=seed)
    return MultiActorSource(scene, paced=paced, frames=frames, seed=seed)


def parse_multi_actor_source(spec: str, *, realtime: bool = True) -> MultiActorSource | None:
    """The source for `synthetic:actions[:A-B][@SEED],actors=N`, or None when `spec` is not of that form."""
    m = _SPEC.match(spec.strip())
    if m is None:
        return None
    first, last = (int(m.group(1)), int(m.group(2))) if m.group(1) else (0, 3)
    return multi_actor_source(int(m.group(4)), first, last, seed=int(m.group(3) or 0), paced=realtime)
