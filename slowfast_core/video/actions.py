"""Synthetic actions: short scenes whose class depends on both appearance and motion.

A class is an (appearance, motion) pair. Appearances are a coloured shape (red disc, blue square, green
triangle, yellow ring); motions are rising, falling, shaking (a 7.5 Hz side-to-side oscillation, a period of 4
frames at 30 fps: a Slow pathway sampling every 8-16 frames sees it only as aliased, random-looking offsets)
and swaying (the same movement at 0.8 Hz, which every pathway resolves). Because each appearance occurs with
several motions and each motion with several appearances, no single cue names a class: a model needs the
Slow pathway's appearance and the Fast pathway's motion together.

Nuisance variation, drawn per clip from a seeded generator: background gradient and texture, start
position, size, speed, amplitude, phase, colour jitter, brightness (with a slow flicker) and pixel noise.
All motions are symmetric under a horizontal flip, so the paper's flip augmentation keeps labels right.

`CLASS_ORDER` lists the 16 classes in 2 x 2 blocks, so the first 4, 8, 12 or 16 classes need both cues,
and the first 8 and the last 8 use the same appearances and motions in different pairings (the transfer
experiment: pretrain on one half, teach the other).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from slowfast_core.errors import ConfigError

APPEARANCES: tuple[tuple[str, str, tuple[int, int, int]], ...] = (  # name, shape, BGR colour
    ("red disc", "disc", (40, 40, 220)),
    ("blue square", "square", (220, 90, 30)),
    ("green triangle", "triangle", (60, 190, 40)),
    ("yellow ring", "ring", (30, 210, 230)),
)
MOTIONS: tuple[str, ...] = ("rising", "falling", "shaking", "swaying")
SHAKE_HZ = 7.5  # 4 frames per period at 30 fps
SWAY_HZ = 0.8

#: (appearance, motion) of each class, in the order `class_names` numbers them.
CLASS_ORDER: tuple[tuple[int, int], ...] = (
    (0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3),
    (0, 2), (0, 3), (1, 2), (1, 3), (2, 0), (2, 1), (3, 0), (3, 1),
)
MAX_CLASSES = len(CLASS_ORDER)
DEFAULT_SIZE = (170, 128)  # width, height (even: mp4v needs it); the tiny models resize to 80 and crop 70


def class_name(index: int) -> str:
    """The label of class `index` of CLASS_ORDER, e.g. 'red disc rising'."""
    a, m = CLASS_ORDER[index]
    return f"{APPEARANCES[a][0]} {MOTIONS[m]}"


def class_names(num_classes: int, offset: int = 0) -> list[str]:
    """Labels of classes offset .. offset+num_classes-1 of CLASS_ORDER."""
    check_class_range(num_classes, offset)
    return [class_name(i) for i in range(offset, offset + num_classes)]


def check_class_range(num_classes: int, offset: int = 0) -> None:
    """ConfigError unless 1 <= num_classes and offset + num_classes <= 16."""
    if num_classes < 1 or offset < 0 or offset + num_classes > MAX_CLASSES:
        raise ConfigError(f"synthetic classes {offset}..{offset + num_classes - 1} are out of range: "
                          f"there are {MAX_CLASSES} (use --classes 1..{MAX_CLASSES - offset})")


@dataclass(frozen=True)
class ActionScene:
    """Everything needed to render one clip of one class: the class plus its drawn nuisance values."""

    class_index: int
    width: int
    height: int
    background: np.ndarray  # (H, W, 3) uint8 BGR
    colour: tuple[int, int, int]
    size: float  # object radius in pixels
    x0: float
    y0: float
    speed: float  # pixels per second (rising / falling)
    amplitude: float  # pixels (shaking / swaying)
    phase: float
    brightness: float
    flicker: float
    noise: float
    seed: int

    @property
    def appearance(self) -> int:
        return CLASS_ORDER[self.class_index][0]

    @property
    def motion(self) -> int:
        return CLASS_ORDER[self.class_index][1]


def make_scene(class_index: int, rng: np.random.Generator, *, size: tuple[int, int] = DEFAULT_SIZE) -> ActionScene:
    """Draw the nuisance values of one clip of `class_index` from `rng`."""
    check_class_range(class_index + 1)
    w, h = size
    if w < 32 or h < 32:
        raise ConfigError(f"synthetic action frames {w}x{h} are too small: use at least 32x32")
    base = rng.uniform(30, 200, size=3)
    tilt = rng.uniform(-60, 60, size=3)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    angle = rng.uniform(0, 2 * math.pi)
    ramp = math.cos(angle) * x + math.sin(angle) * y  # (H, W, 1)
    bg = base[None, None, :] + tilt[None, None, :] * ramp
    bg = bg + rng.normal(0, rng.uniform(2, 12), size=(h, w, 1)) + rng.normal(0, 3, size=(h, w, 3))
    background = np.clip(bg, 0, 255).astype(np.uint8)
    colour = tuple(int(np.clip(c + rng.uniform(-25, 25), 0, 255)) for c in APPEARANCES[CLASS_ORDER[class_index][0]][2])
    radius = rng.uniform(0.10, 0.16) * h
    motion = CLASS_ORDER[class_index][1]
    if motion == 0:  # rising: start low
        y0 = rng.uniform(0.62, 0.8) * h
    elif motion == 1:  # falling: start high
        y0 = rng.uniform(0.2, 0.38) * h
    else:
        y0 = rng.uniform(0.3, 0.7) * h
    return ActionScene(
        class_index=class_index, width=w, height=h, background=background, colour=colour,  # type: ignore[arg-type]
        size=radius, x0=rng.uniform(0.3, 0.7) * w, y0=y0, speed=rng.uniform(0.14, 0.24) * h,
        amplitude=rng.uniform(0.08, 0.13) * w, phase=rng.uniform(0, 2 * math.pi),
        brightness=rng.uniform(0.75, 1.2), flicker=rng.uniform(0.0, 0.08), noise=rng.uniform(1.0, 6.0),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def object_position(scene: ActionScene, t: float) -> tuple[float, float]:
    """Centre (x, y) in pixels of the scene's object at `t` seconds."""
    motion = scene.motion
    if motion == 0:
        return scene.x0, scene.y0 - scene.speed * t
    if motion == 1:
        return scene.x0, scene.y0 + scene.speed * t
    hz = SHAKE_HZ if motion == 2 else SWAY_HZ
    return scene.x0 + scene.amplitude * math.sin(2 * math.pi * hz * t + scene.phase), scene.y0


def draw_shape(frame: np.ndarray, shape: str, centre: tuple[float, float], radius: float,
               colour: tuple[int, int, int]) -> None:
    """Draw one filled shape (disc, square, triangle, ring) of `radius` at `centre` into `frame` (in place)."""
    cx, cy, r = int(round(centre[0])), int(round(centre[1])), max(2, int(round(radius)))
    if shape == "disc":
        cv2.circle(frame, (cx, cy), r, colour, thickness=-1, lineType=cv2.LINE_AA)
    elif shape == "square":
        s = int(round(r * 0.85))
        cv2.rectangle(frame, (cx - s, cy - s), (cx + s, cy + s), colour, thickness=-1)
    elif shape == "triangle":
        pts = np.array([[cx, cy - r], [cx - r, cy + int(r * 0.8)], [cx + r, cy + int(r * 0.8)]], dtype=np.int32)
        cv2.fillPoly(frame, [pts], colour, lineType=cv2.LINE_AA)
    elif shape == "ring":
        cv2.circle(frame, (cx, cy), r, colour, thickness=max(2, r // 3), lineType=cv2.LINE_AA)
    else:
        raise ConfigError(f"unknown shape {shape!r}")


def render_frame(scene: ActionScene, number: int, fps: float = 30.0) -> np.ndarray:
    """Frame `number` of `scene`: (H, W, 3) BGR uint8. Deterministic in (scene, number)."""
    t = number / fps
    frame = scene.background.copy()
    draw_shape(frame, APPEARANCES[scene.appearance][1], object_position(scene, t), scene.size, scene.colour)
    gain = scene.brightness * (1.0 + scene.flicker * math.sin(2 * math.pi * 0.5 * t))
    noise = np.random.default_rng((scene.seed, number)).normal(0, scene.noise, size=frame.shape)
    return np.clip(frame.astype(np.float32) * gain + noise, 0, 255).astype(np.uint8)


def render_clip(scene: ActionScene, frames: int, fps: float = 30.0) -> np.ndarray:
    """`frames` frames of `scene`: (N, H, W, 3) BGR uint8."""
    return np.stack([render_frame(scene, i, fps) for i in range(frames)])
