"""`slowfast synth`: write a synthetic-actions dataset in the exported layout (train/val/test CSV + label map).

```
OUT/clips/<class>/<split>_<k>.mp4   clips of `seconds` at 30 fps, 170x128 (mp4v)
OUT/train.csv, val.csv, test.csv     `clips/<class>/<file>.mp4 <label_id>` lines
OUT/label_map.json                   {"red disc plain still": 0, ...}
OUT/synth.json                       the generator's settings (classes, seed, counts), for reproducibility
```
Deterministic by seed: the same arguments write the same clips (frame for frame).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.errors import ConfigError, SlowFastError
from slowfast_core.files import slugify
from slowfast_core.sessions.layout import atomic_write_text
from slowfast_core.video.actions import (
    DEFAULT_SIZE,
    DEFAULT_TASK,
    check_class_range,
    check_task,
    class_name,
    make_scene,
    render_frame,
)

FPS = 30.0


@dataclass(frozen=True)
class SynthSettings:
    """What `slowfast synth` generates."""

    classes: int = 8
    offset: int = 0  # first class of CLASS_ORDER (the transfer experiment uses 8 and 8)
    clips_per_class: int = 40  # training clips; val and test get `eval_fraction` as many each (at least 1)
    eval_fraction: float = 0.25
    seconds: float = 2.4
    seed: int = 0
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    task: str = DEFAULT_TASK  # "pathways" (classes that need both pathways) or "shapes" (the original task)
    only: tuple[int, ...] = ()  # these classes in this order, not `classes` from `offset` (`--classes 0-7,12-15`)

    def class_indices(self) -> tuple[int, ...]:
        """The task's class numbers that become labels 0, 1, ...: `only`, else `classes` from `offset`."""
        if self.only:
            return self.only
        check_class_range(self.classes, self.offset)
        return tuple(range(self.offset, self.offset + self.classes))


def write_clip(path: Path, frames: list[np.ndarray], fps: float = FPS, *, fourcc: str = "mp4v") -> None:
    """BGR frames to a video file in codec `fourcc` (through a temporary name, so a half-written clip is never
    left): mp4v for the classification clips, FFV1 (lossless, .mkv) for the multi-actor scenes."""
    tmp = path.with_name(path.stem + ".part" + path.suffix)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        raise SlowFastError(f"cannot write {tmp} with the {fourcc} codec: check the folder is writable")
    for frame in frames:
        writer.write(frame)
    writer.release()
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise SlowFastError(f"writing {path} failed (disk full?): free space and run again")
    tmp.replace(path)


def generate(out: Path, settings: SynthSettings, *, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Render the dataset into `out`; returns {split: clips}. ConfigError for impossible settings."""
    check_task(settings.task)
    indices = settings.class_indices()
    names = [class_name(i, settings.task) for i in indices]
    if settings.clips_per_class < 1:
        raise ConfigError("--clips-per-class must be at least 1")
    if not 0 < settings.eval_fraction <= 1:
        raise ConfigError(f"--eval-fraction {settings.eval_fraction} must be in (0, 1]")
    if not 0.5 <= settings.seconds <= 30:
        raise ConfigError(f"--seconds {settings.seconds} must be in 0.5..30")
    n_eval = max(1, int(round(settings.clips_per_class * settings.eval_fraction)))
    plan = [("train", settings.clips_per_class), ("val", n_eval), ("test", n_eval)]
    total = len(indices) * sum(n for _, n in plan)
    frames_per_clip = int(round(settings.seconds * FPS))
    out.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {split: [] for split, _ in plan}
    done = 0
    for label, name in enumerate(names):
        folder = out / "clips" / slugify(name)
        folder.mkdir(parents=True, exist_ok=True)
        class_index = indices[label]
        for split_no, (split, count) in enumerate(plan):
            for k in range(count):
                rng = np.random.default_rng([settings.seed, class_index, split_no, k])
                scene = make_scene(class_index, rng, size=(settings.width, settings.height), task=settings.task)
                path = folder / f"{split}_{k:04d}.mp4"
                write_clip(path, [render_frame(scene, i, FPS) for i in range(frames_per_clip)])
                lines[split].append(f"{path.relative_to(out).as_posix()} {label}")
                done += 1
                if progress is not None:
                    progress(done, total)
    for split, rows in lines.items():
        atomic_write_text(out / f"{split}.csv", "".join(r + "\n" for r in rows))
    atomic_write_text(out / "label_map.json", json.dumps({n: i for i, n in enumerate(names)}, indent=1) + "\n")
    atomic_write_text(out / "synth.json", json.dumps({**asdict(settings), "names": names}, indent=1) + "\n")
    return {split: len(rows) for split, rows in lines.items()}
