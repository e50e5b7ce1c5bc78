"""`slowfast synth --actors N`: multi-actor synthetic videos with per-person labels in AVA's CSV layout.

```
OUT/videos/<video>.mkv      `seconds` at 30 fps, N actors side by side, each doing one action the whole clip
                            (FFV1, lossless: the live scene's frames are never compressed, so neither are these)
OUT/train.csv, val.csv      AVA rows `video,timestamp,x1,y1,x2,y2,action_id,person_id` (boxes normalised to
                            [0, 1], action ids from 1, one row per actor per key frame, key frames at whole seconds)
OUT/actions.txt             the label map: line i names action id i
OUT/synth.json              the generator's settings
```
Deterministic by seed. Rendering is `video.multi_actor` (the one-actor renderer per column).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from slowfast_core.errors import ConfigError
from slowfast_core.sessions.layout import atomic_write_text
from slowfast_core.train.synth import FPS, write_clip
from slowfast_core.video.actions import class_names
from slowfast_core.video.multi_actor import MAX_ACTORS, MultiActorScene


@dataclass(frozen=True)
class ActorSynthSettings:
    """What `slowfast synth --actors N` generates."""

    actors: int = 3
    classes: int = 4
    offset: int = 0
    videos: int = 24  # training videos; val gets `eval_fraction` as many (at least 1)
    eval_fraction: float = 0.25
    seconds: int = 3  # key frames at 1 .. seconds-1
    seed: int = 0
    stage_width: int = 80
    height: int = 96
    class_ids: tuple[int, ...] | None = None  # these classes of the 16 instead of offset .. offset+classes-1

    @property
    def chosen(self) -> list[int]:
        """The classes of CLASS_ORDER used, in label order."""
        return list(self.class_ids) if self.class_ids else list(range(self.offset, self.offset + self.classes))


def write_lossless(path: Path, frames: list[np.ndarray], fps: float = FPS) -> None:
    """BGR frames to a lossless FFV1 .mkv (through a temporary name: a half-written video is never left).

    mp4v at these small sizes smears colours and blocks; a head trained on that misreads the live scene."""
    write_clip(path, frames, fps, fourcc="FFV1")


def ava_row(video: str, timestamp: float, box: tuple[float, float, float, float], width: int, height: int,
            action_id: int, person_id: int) -> str:
    """One AVA CSV line: box normalised to the frame, 3 decimals as AVA writes them."""
    x1, y1, x2, y2 = box
    return (f"{video},{timestamp:g},{x1 / width:.3f},{y1 / height:.3f},{x2 / width:.3f},{y2 / height:.3f},"
            f"{action_id},{person_id}")


def generate_actors(out: Path, settings: ActorSynthSettings, *,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Render the videos and write the CSVs; returns {split: rows}. ConfigError for impossible settings."""
    if not 1 <= settings.actors <= MAX_ACTORS:
        raise ConfigError(f"--actors {settings.actors} is out of range: use 1..{MAX_ACTORS}")
    chosen = settings.chosen
    names = [class_names(1, c)[0] for c in chosen]
    if settings.videos < 1:
        raise ConfigError("--clips-per-class (videos with --actors) must be at least 1")
    if not 2 <= settings.seconds <= 30:
        raise ConfigError(f"--seconds {settings.seconds} must be a whole number in 2..30 with --actors")
    plan = [("train", settings.videos), ("val", max(1, int(round(settings.videos * settings.eval_fraction))))]
    total = sum(n for _, n in plan)
    frames = int(settings.seconds * FPS)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {split: [] for split, _ in plan}
    done = 0
    for split_no, (split, count) in enumerate(plan):
        for k in range(count):
            rng = np.random.default_rng([settings.seed, split_no, k, 11])
            labels = [int(c) for c in rng.integers(0, len(chosen), size=settings.actors)]
            scripts = [[(chosen[c], float(settings.seconds))] for c in labels]
            scene = MultiActorScene(scripts, width=settings.stage_width * settings.actors, height=settings.height,
                                    seed=int(rng.integers(0, 2**31 - 1)))
            video = f"{split}_{k:04d}"
            write_lossless(out / "videos" / f"{video}.mkv", [scene.frame(i) for i in range(frames)])
            for t in range(1, settings.seconds):
                for truth in scene.truth(int(t * FPS)):
                    rows[split].append(ava_row(video, t, truth.box, scene.width, scene.height,
                                               chosen.index(truth.class_index) + 1, truth.person_id))
            done += 1
            if progress is not None:
                progress(done, total)
    for split, lines in rows.items():
        atomic_write_text(out / f"{split}.csv", "".join(r + "\n" for r in lines))
    atomic_write_text(out / "actions.txt", "".join(n + "\n" for n in names))
    atomic_write_text(out / "synth.json", json.dumps({**asdict(settings), "names": names}, indent=1) + "\n")
    return {split: len(lines) for split, lines in rows.items()}
