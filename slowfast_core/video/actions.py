"""Synthetic actions: short scenes whose class depends on what each SlowFast pathway can see.

Two tasks (`TASKS`), 16 classes each, the same nuisance variation and the same per-actor API
(`make_scene`, `object_position`, `draw_actor`, `render_frame`, `render_clip`, `class_name`):

**pathways** (the default): a class is (shape, finish, tick). Every class moves on the same kind of slow path
(a sway of 0.3-0.7 Hz plus a drift, drawn per clip). On top of it a *ticking* object jumps sideways by 7-10 %
of the frame width for 2 frames out of every 10 (TICK_HZ = 3 Hz at 30 fps, a period of 10 frames); a *still*
one does not. The tiny models' window is 32 frames: the Slow pathway takes frames 0, 10, 20, 31 of it and
the Fast pathway frames 0, 2, 4, ..., 28, 31 (`video.sampling.pathway_indices`, PySlowFast's linspace).
Slow's stride of 10 frames is the tick's period, so frames 0, 10 and 20 always show the same tick phase:
in 8 of the 10 phases the last frame (31) does too, and Slow's four frames are *exactly* those of a still
object (shifted by the tick, or not); Fast's stride of 2 frames lands in the 2-frame tick once every
5 frames whatever the phase, 3 times per window. A *striped* object carries fine stripes (a period of 6/128
of the frame's height, 3.75 pixels at the tiny models' 80-pixel input at any size, 40 % darker) where a
*plain* one is solid: a difference of fine appearance, for the Slow pathway's channels rather than the Fast
pathway's few (1/4 or 1/8 as many).
So the still/ticking twins separate only with Fast, the plain/striped twins call for Slow's capacity,
and the shape anyone sees. The README gives the arithmetic per pair.

**shapes** (the original task): a class is an (appearance, motion) pair. Appearances are a coloured shape
(red disc, blue square, green triangle, yellow ring); motions are rising, falling, shaking (a 7.5 Hz
side-to-side oscillation, a period of 4 frames at 30 fps) and swaying (the same movement at 0.8 Hz). Each
appearance occurs with several motions and each motion with several appearances, so no single cue names a class.
Shaking is seen by both pathways (Slow's strides of 10-11 frames show it as aliased offsets).

Nuisance variation, drawn per clip from a seeded generator: background gradient and texture, start
position, size, speed, amplitude, phase, colour jitter, brightness (with a slow flicker) and pixel noise.
All motions are symmetric under a horizontal flip, so the paper's flip augmentation keeps labels right.

Both tasks order their classes so the first 8 and the last 8 share the motions (and finishes) with different
shapes (the transfer experiment: pretrain on one half, teach the other).
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

TASKS: tuple[str, ...] = ("pathways", "shapes")
DEFAULT_SIZE = (170, 128)  # width, height (even: mp4v needs it); the tiny models resize to 80 and crop 70
DEFAULT_TASK = "pathways"

#: The pathways task: shapes (name, shape, BGR colour), finishes and ticks.
PATHWAY_SHAPES: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("red disc", "disc", (40, 40, 220)),
    ("blue square", "square", (220, 90, 30)),
    ("green triangle", "triangle", (60, 190, 40)),
    ("yellow diamond", "diamond", (30, 210, 230)),
)
FINISHES: tuple[str, ...] = ("plain", "striped")
TICKS: tuple[str, ...] = ("still", "ticking")
TICK_HZ = 3.0  # a period of 10 frames at 30 fps: the tiny models' Slow stride (frames 0, 10, 20, 31 of 32)
TICK_DUTY = 0.2  # displaced for 2 frames of every 10: Fast's stride of 2 always lands in it
STRIPE_PERIOD = 6  # pixels at the default frame height (128): 3.75 at the tiny models' 80-pixel input
#: The stripes' period as a fraction of the frame's height, so a striped object looks the same at any rendered size
#: (the scripted actor renders 320x240, `slowfast synth` 170x128), as its size, path and tick already scale.
STRIPE_PERIOD_OF_HEIGHT = STRIPE_PERIOD / DEFAULT_SIZE[1]
STRIPE_GAIN = 0.6  # the dark stripes' brightness relative to the colour
#: (shape, finish, tick) of each pathways class: twins that differ in tick only are adjacent (2k, 2k+1),
#: twins that differ in finish only are 2 apart; the first 8 use disc and square, the last 8 the others.
PATHWAY_ORDER: tuple[tuple[int, int, int], ...] = tuple(
    (shape, finish, tick) for shape in range(4) for finish in range(2) for tick in range(2))

#: (appearance, motion) of each class, in the order `class_names` numbers them.
CLASS_ORDER: tuple[tuple[int, int], ...] = (
    (0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3),
    (0, 2), (0, 3), (1, 2), (1, 3), (2, 0), (2, 1), (3, 0), (3, 1),
)
MAX_CLASSES = len(CLASS_ORDER)


def check_task(task: str) -> str:
    """`task` if it is one of TASKS, else ConfigError."""
    if task not in TASKS:
        raise ConfigError(f"unknown synthetic task {task!r}: use one of {', '.join(TASKS)}")
    return task


def class_name(index: int, task: str = DEFAULT_TASK) -> str:
    """The label of class `index` of `task`, e.g. 'red disc striped ticking' or (shapes) 'red disc rising'."""
    if check_task(task) == "pathways":
        shape, finish, tick = PATHWAY_ORDER[index]
        return f"{PATHWAY_SHAPES[shape][0]} {FINISHES[finish]} {TICKS[tick]}"
    a, m = CLASS_ORDER[index]
    return f"{APPEARANCES[a][0]} {MOTIONS[m]}"


def pathway_parts(name: str) -> tuple[int, int, int] | None:
    """(shape, finish, tick) of the pathways class named `name` (as `class_name` names it); None for any other."""
    return next((PATHWAY_ORDER[i] for i in range(MAX_CLASSES) if class_name(i) == name), None)


def class_names(num_classes: int, offset: int = 0, task: str = DEFAULT_TASK) -> list[str]:
    """Labels of classes offset .. offset+num_classes-1 of `task`."""
    check_class_range(num_classes, offset)
    return [class_name(i, task) for i in range(offset, offset + num_classes)]


def check_class_range(num_classes: int, offset: int = 0) -> None:
    """ConfigError unless 1 <= num_classes and offset + num_classes <= 16 (both tasks have 16)."""
    if num_classes < 1 or offset < 0 or offset + num_classes > MAX_CLASSES:
        raise ConfigError(f"synthetic classes {offset}..{offset + num_classes - 1} are out of range: "
                          f"there are {MAX_CLASSES} (use --classes 1..{MAX_CLASSES - offset})")


def parse_class_list(text: str, *, option: str = "--classes", minimum: int = 2) -> tuple[int, ...]:
    """`0-7,12-15`, `8-11` or `0,5`: synthetic class indices in the order given (ranges inclusive; distinct, each
    0..15, at least `minimum`). ConfigError, in one line with an example, for anything else."""
    example = "e.g. 8-11 or 0-7,12-15"
    try:
        classes: list[int] = []
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            lo, hi = int(first), int(last or first)
            if hi < lo:
                raise ValueError
            classes.extend(range(lo, hi + 1))
    except ValueError:
        raise ConfigError(f"{option} {text!r}: give class numbers and ranges, {example}") from None
    if len(classes) < minimum or len(set(classes)) != len(classes) or not all(0 <= c < MAX_CLASSES for c in classes):
        raise ConfigError(f"{option} {text!r}: give at least {minimum} different classes, each 0..{MAX_CLASSES - 1}, "
                          f"{example}")
    return tuple(classes)


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
    task: str = "shapes"
    # the pathways task's path and tick (unused by shapes)
    sway_hz: float = 0.0
    drift: tuple[float, float] = (0.0, 0.0)  # pixels per second (x, y)
    tick_dx: float = 0.0  # signed sideways jump while ticking, pixels
    tick_phase: int = 0  # frames (0..9): the tick shows where (frame + tick_phase) % 10 is 0 or 1 (at 30 fps)
    stripe_angle: float = 0.0  # radians

    @property
    def appearance(self) -> int:
        """Index of the shape: into APPEARANCES (shapes) or PATHWAY_SHAPES (pathways)."""
        return PATHWAY_ORDER[self.class_index][0] if self.task == "pathways" else CLASS_ORDER[self.class_index][0]

    @property
    def motion(self) -> int:
        """Shapes: index into MOTIONS; pathways: index into TICKS (0 still, 1 ticking)."""
        return PATHWAY_ORDER[self.class_index][2] if self.task == "pathways" else CLASS_ORDER[self.class_index][1]

    @property
    def finish(self) -> int:
        """Pathways: index into FINISHES (0 plain, 1 striped); shapes: always 0."""
        return PATHWAY_ORDER[self.class_index][1] if self.task == "pathways" else 0

    @property
    def shape(self) -> str:
        """The drawn shape's name (disc, square, triangle, ring, diamond)."""
        return (PATHWAY_SHAPES if self.task == "pathways" else APPEARANCES)[self.appearance][1]


def make_scene(class_index: int, rng: np.random.Generator, *, size: tuple[int, int] = DEFAULT_SIZE,
               task: str = DEFAULT_TASK) -> ActionScene:
    """Draw the nuisance values of one clip of class `class_index` of `task` from `rng`."""
    check_class_range(class_index + 1)
    w, h = size
    if w < 32 or h < 32:
        raise ConfigError(f"synthetic action frames {w}x{h} are too small: use at least 32x32")
    if check_task(task) == "pathways":
        return _make_pathways_scene(class_index, rng, w, h)
    background = _background(rng, w, h)
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


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A gradient in a random direction with texture and noise: (H, W, 3) uint8."""
    base = rng.uniform(30, 200, size=3)
    tilt = rng.uniform(-60, 60, size=3)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    angle = rng.uniform(0, 2 * math.pi)
    ramp = math.cos(angle) * x + math.sin(angle) * y  # (H, W, 1)
    bg = base[None, None, :] + tilt[None, None, :] * ramp
    bg = bg + rng.normal(0, rng.uniform(2, 12), size=(h, w, 1)) + rng.normal(0, 3, size=(h, w, 3))
    return np.clip(bg, 0, 255).astype(np.uint8)


def _make_pathways_scene(class_index: int, rng: np.random.Generator, w: int, h: int) -> ActionScene:
    """The pathways task's scene: the shapes task's nuisance, a slow path, a tick phase and a stripe angle."""
    background = _background(rng, w, h)
    shape, _finish, _tick = PATHWAY_ORDER[class_index]
    colour = tuple(int(np.clip(c + rng.uniform(-25, 25), 0, 255)) for c in PATHWAY_SHAPES[shape][2])
    drift_speed, drift_angle = rng.uniform(0.0, 0.08) * h, rng.uniform(0, 2 * math.pi)
    return ActionScene(
        class_index=class_index, width=w, height=h, background=background, colour=colour,  # type: ignore[arg-type]
        size=rng.uniform(0.12, 0.17) * h, x0=rng.uniform(0.3, 0.7) * w, y0=rng.uniform(0.3, 0.7) * h,
        speed=drift_speed, amplitude=rng.uniform(0.04, 0.12) * w, phase=rng.uniform(0, 2 * math.pi),
        brightness=rng.uniform(0.75, 1.2), flicker=rng.uniform(0.0, 0.08), noise=rng.uniform(1.0, 6.0),
        seed=int(rng.integers(0, 2**31 - 1)), task="pathways", sway_hz=rng.uniform(0.3, 0.7),
        drift=(drift_speed * math.cos(drift_angle), drift_speed * math.sin(drift_angle)),
        tick_dx=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.07, 0.10) * w), tick_phase=int(rng.integers(0, 10)),
        stripe_angle=rng.uniform(0, math.pi),
    )


def tick_on(scene: ActionScene, t: float) -> bool:
    """True while a ticking object is displaced: 2 frames of every 10 at 30 fps (TICK_DUTY of TICK_HZ)."""
    if scene.task != "pathways" or scene.motion != 1:
        return False
    cycle = (t * TICK_HZ + (scene.tick_phase + 0.5) / 10) % 1.0  # +0.5 frame: clear of float edges
    return cycle < TICK_DUTY


def path_position(scene: ActionScene, t: float) -> tuple[float, float]:
    """Pathways task: where the slow path (sway + drift, shared by every class) puts the object at `t` s."""
    x = scene.x0 + scene.amplitude * math.sin(2 * math.pi * scene.sway_hz * t + scene.phase) + scene.drift[0] * t
    return x, scene.y0 + scene.drift[1] * t


def object_position(scene: ActionScene, t: float) -> tuple[float, float]:
    """Centre (x, y) in pixels of the scene's object at `t` seconds."""
    if scene.task == "pathways":
        x, y = path_position(scene, t)
        return x + (scene.tick_dx if tick_on(scene, t) else 0.0), y
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
    elif shape == "diamond":
        pts = np.array([[cx, cy - r], [cx + r, cy], [cx, cy + r], [cx - r, cy]], dtype=np.int32)
        cv2.fillPoly(frame, [pts], colour, lineType=cv2.LINE_AA)
    else:
        raise ConfigError(f"unknown shape {shape!r}")


def stripe_period(scene: ActionScene) -> float:
    """The striped finish's period in pixels at the scene's rendered size (6 at the default 128-pixel height)."""
    return STRIPE_PERIOD_OF_HEIGHT * scene.height


def draw_actor(frame: np.ndarray, scene: ActionScene, t: float) -> None:
    """Draw the scene's object as it is at `t` seconds into `frame` (in place; any size: scenes may share one).

    Shapes: a solid shape. Pathways: the shape blended in through an anti-aliased mask, with fine stripes
    (a period of STRIPE_PERIOD_OF_HEIGHT of the scene's height, at the scene's angle, fixed to the object) when its
    finish is striped."""
    centre = object_position(scene, t)
    if scene.task != "pathways":
        draw_shape(frame, scene.shape, centre, scene.size, scene.colour)
        return
    h, w = frame.shape[:2]
    r = int(math.ceil(scene.size)) + 2
    x0, x1 = max(0, int(centre[0]) - r), min(w, int(centre[0]) + r + 1)
    y0, y1 = max(0, int(centre[1]) - r), min(h, int(centre[1]) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return  # drifted out of the frame
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)  # the object's box only
    draw_shape(mask, scene.shape, (centre[0] - x0, centre[1] - y0), scene.size, (255, 255, 255))
    alpha = mask.astype(np.float32)[:, :, None] / 255.0  # (h, w, 1)
    paint = np.empty(mask.shape + (3,), np.float32)
    paint[:] = scene.colour
    if scene.finish == 1:
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        u = (xx - centre[0]) * math.cos(scene.stripe_angle) + (yy - centre[1]) * math.sin(scene.stripe_angle)
        dark = np.floor(u / (stripe_period(scene) / 2)) % 2 == 1  # half of each period
        paint[dark] *= STRIPE_GAIN
    box = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(box * (1 - alpha) + paint * alpha + 0.5, 0, 255).astype(np.uint8)


def render_frame(scene: ActionScene, number: int, fps: float = 30.0) -> np.ndarray:
    """Frame `number` of `scene`: (H, W, 3) BGR uint8. Deterministic in (scene, number)."""
    t = number / fps
    frame = scene.background.copy()
    draw_actor(frame, scene, t)
    gain = scene.brightness * (1.0 + scene.flicker * math.sin(2 * math.pi * 0.5 * t))
    noise = np.random.default_rng((scene.seed, number)).normal(0, scene.noise, size=frame.shape)
    return np.clip(frame.astype(np.float32) * gain + noise, 0, 255).astype(np.uint8)


def render_clip(scene: ActionScene, frames: int, fps: float = 30.0) -> np.ndarray:
    """`frames` frames of `scene`: (N, H, W, 3) BGR uint8."""
    return np.stack([render_frame(scene, i, fps) for i in range(frames)])
