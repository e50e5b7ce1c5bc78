"""`synthetic:actions`: a scripted actor that performs synthetic actions in a known order, as a live source.

It is the synthetic scene's pacing, stalls and frame-number strip (`SyntheticSource`) with the frames of
`video.actions`: the script is a list of (class, seconds); each entry is a fresh scene of that class (new
background, position, size…), and the script repeats. `script_labels()` gives the truth as labeled spans in
media time, so a test can record a session with labels marked at the script's times and compare live
predictions with what was performed.

`--source synthetic:actions` performs all 16 classes of the pathways task (the one `slowfast synth` writes
by default); `synthetic:actions:8-15` only classes 8..15 (the ones the transfer experiment teaches), in a
seeded order, 4 s each; `synthetic:shapes[:A-B][@SEED]` the same with the original shapes task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from slowfast_core.errors import SourceError
from slowfast_core.video.actions import (
    DEFAULT_TASK,
    MAX_CLASSES,
    ActionScene,
    check_task,
    class_name,
    make_scene,
    render_frame,
)
from slowfast_core.video.synthetic import SyntheticSource, encode_index

DEFAULT_SECONDS = 4.0
_SPEC = re.compile(r"^synthetic:(actions|shapes)(?::(\d+)-(\d+))?(?:@(\d+))?$")


@dataclass(frozen=True)
class ScriptedAction:
    """One performed action: its label and span in media seconds (one pass of the script)."""

    label: str
    start: float
    end: float


class ActionScriptSource(SyntheticSource):
    """A live source performing `script` [(class index, seconds), …] over and over at `fps`."""

    def __init__(self, script: list[tuple[int, float]], *, width: int = 320, height: int = 240, fps: float = 30.0,
                 paced: bool = True, frames: int | None = None, seed: int = 0, task: str = DEFAULT_TASK) -> None:
        super().__init__(width, height, fps, paced=paced, frames=frames, seed=seed)
        self.task = check_task(task)
        if not script or any(not 0 <= c < MAX_CLASSES or s <= 0 for c, s in script):
            raise SourceError(f"an action script needs (class 0..{MAX_CLASSES - 1}, seconds > 0) entries")
        self.script = list(script)
        bounds = np.cumsum([0] + [int(round(s * self.fps)) for _, s in script])
        self._starts = bounds[:-1]  # first frame of each entry in one pass
        self._cycle = int(bounds[-1])
        self._scenes: list[ActionScene] = [
            make_scene(c, np.random.default_rng([seed, k]), size=(self.width, self.height), task=task)
            for k, (c, _) in enumerate(script)
        ]

    @property
    def name(self) -> str:
        return f"scripted actions {self.width}x{self.height}@{self.fps:g}"

    def entry_at(self, number: int) -> tuple[int, int]:
        """(script entry, frame within it) performed at frame `number`."""
        local = number % self._cycle
        k = int(np.searchsorted(self._starts, local, side="right") - 1)
        return k, local - int(self._starts[k])

    def label_at(self, media_time: float) -> str:
        """The class performed at `media_time` seconds."""
        k, _ = self.entry_at(int(round(media_time * self.fps)))
        return class_name(self.script[k][0], self.task)

    def script_labels(self, passes: int = 1) -> list[ScriptedAction]:
        """The truth: every entry of `passes` passes of the script as labeled spans (media seconds)."""
        out = []
        for p in range(passes):
            for k, (c, _) in enumerate(self.script):
                start = (p * self._cycle + int(self._starts[k])) / self.fps
                end = (p * self._cycle + int(self._starts[k + 1] if k + 1 < len(self._starts) else self._cycle)) / self.fps
                out.append(ScriptedAction(class_name(c, self.task), start, end))
        return out

    def render(self, number: int) -> np.ndarray:
        """Frame `number`: the scripted action's frame, with the frame-number strip like the synthetic scene."""
        k, local = self.entry_at(number)
        frame = render_frame(self._scenes[k], local, self.fps)
        encode_index(frame, number, bits=self.STRIP_BITS, block=self.block)
        return frame


def default_script(first: int, last: int, *, seed: int = 0, seconds: float = DEFAULT_SECONDS) -> list[tuple[int, float]]:
    """Classes first..last in a seeded order, `seconds` each."""
    order = np.random.default_rng(seed).permutation(np.arange(first, last + 1))
    return [(int(c), seconds) for c in order]


def parse_actions_source(spec: str, *, realtime: bool = True) -> ActionScriptSource | None:
    """The source for `synthetic:actions[:A-B][@SEED]` (pathways task) or `synthetic:shapes[...]` (shapes
    task), or None when `spec` is not of that form."""
    m = _SPEC.match(spec.strip())
    if m is None:
        return None
    task = "shapes" if m.group(1) == "shapes" else "pathways"
    first, last = (int(m.group(2)), int(m.group(3))) if m.group(2) else (0, MAX_CLASSES - 1)
    if not 0 <= first <= last < MAX_CLASSES:
        raise SourceError(f"action classes {first}-{last} are out of range: use 0-{MAX_CLASSES - 1}")
    seed = int(m.group(4)) if m.group(4) else 0
    return ActionScriptSource(default_script(first, last, seed=seed), paced=realtime, seed=seed, task=task)
