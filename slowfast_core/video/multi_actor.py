"""Several synthetic actors side by side, each performing its own script, with known boxes.

Built on the one-actor renderer (`video.actions`: `make_scene`, `render_frame`), unchanged: the frame is cut
into N columns, each column is one actor's stage, and each actor's frame is its current scene rendered at the
column's size. An actor's box (its "person box") is its column less a small margin: what a person detector
would report for someone standing in place, so its script and its box are both known exactly.

`ActorScript` is one actor's list of (class, seconds), repeated; `MultiActorScene.frame(n)` renders frame n
and `truth(n)` says, per actor, its box and what it is doing at that frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slowfast_core.errors import ConfigError
from slowfast_core.video.actions import MAX_CLASSES, ActionScene, class_name, make_scene, render_frame

MAX_ACTORS = 6
MIN_STAGE = 32  # make_scene's smallest frame side
MARGIN = 0.04  # of the stage's width and height, left out of the box


@dataclass(frozen=True)
class ActorTruth:
    """What one actor is doing at a frame: its id, box in pixels (x1, y1, x2, y2) and class."""

    person_id: int
    box: tuple[float, float, float, float]
    class_index: int

    @property
    def label(self) -> str:
        return class_name(self.class_index)


class ActorScript:
    """One actor's script [(class index, seconds), ...], repeated; a fresh scene per entry (seeded)."""

    def __init__(self, script: list[tuple[int, float]], *, fps: float, size: tuple[int, int], seed: int) -> None:
        if not script or any(not 0 <= c < MAX_CLASSES or s <= 0 for c, s in script):
            raise ConfigError(f"an actor's script needs (class 0..{MAX_CLASSES - 1}, seconds > 0) entries")
        self.script = list(script)
        bounds = np.cumsum([0] + [max(1, int(round(s * fps))) for _, s in script])
        self._starts = bounds[:-1]
        self.cycle = int(bounds[-1])
        self.scenes: list[ActionScene] = [make_scene(c, np.random.default_rng([seed, k]), size=size)
                                          for k, (c, _) in enumerate(script)]

    def entry_at(self, number: int) -> tuple[int, int]:
        """(script entry, frame within it) at frame `number`."""
        local = number % self.cycle
        k = int(np.searchsorted(self._starts, local, side="right") - 1)
        return k, local - int(self._starts[k])

    def class_at(self, number: int) -> int:
        return self.script[self.entry_at(number)[0]][0]


class MultiActorScene:
    """N actors in N columns of a `width` x `height` frame, each with its own script."""

    def __init__(self, scripts: list[list[tuple[int, float]]], *, width: int, height: int, fps: float = 30.0,
                 seed: int = 0) -> None:
        n = len(scripts)
        if not 1 <= n <= MAX_ACTORS:
            raise ConfigError(f"--actors {n} is out of range: use 1..{MAX_ACTORS}")
        stage_w = width // n
        if stage_w < MIN_STAGE or height < MIN_STAGE:
            raise ConfigError(f"a {width}x{height} frame is too small for {n} actors: each needs at least "
                              f"{MIN_STAGE}x{MIN_STAGE} pixels (make the frame wider)")
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.stage_width = stage_w
        self.actors = [ActorScript(s, fps=fps, size=(stage_w, height), seed=seed * 1000 + i)
                       for i, s in enumerate(scripts)]

    @property
    def num_actors(self) -> int:
        return len(self.actors)

    def box(self, person: int) -> tuple[float, float, float, float]:
        """Actor `person`'s box in pixels: its column less the margin."""
        mx, my = MARGIN * self.stage_width, MARGIN * self.height
        x0 = person * self.stage_width
        return (x0 + mx, my, x0 + self.stage_width - mx, self.height - my)

    def truth(self, number: int) -> list[ActorTruth]:
        """Every actor's id, box and class at frame `number`."""
        return [ActorTruth(i, self.box(i), a.class_at(number)) for i, a in enumerate(self.actors)]

    def frame(self, number: int) -> np.ndarray:
        """Frame `number`: (H, W, 3) BGR uint8, deterministic; columns past the last actor stay black."""
        out = np.zeros((self.height, self.width, 3), np.uint8)
        for i, actor in enumerate(self.actors):
            k, local = actor.entry_at(number)
            x0 = i * self.stage_width
            out[:, x0:x0 + self.stage_width] = render_frame(actor.scenes[k], local, self.fps)
        return out


def random_scripts(actors: int, classes: list[int], *, entries: int, seconds: float,
                   seed: int) -> list[list[tuple[int, float]]]:
    """Per actor, `entries` classes drawn from `classes` (seeded), `seconds` each; neighbours differ at the start."""
    rng = np.random.default_rng([seed, 7])
    scripts = []
    for a in range(actors):
        order = [classes[(a + int(j)) % len(classes)] for j in rng.permutation(len(classes))]
        scripts.append([(order[j % len(order)], seconds) for j in range(entries)])
    return scripts
