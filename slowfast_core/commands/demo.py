"""`slowfast demo`: a self-contained tour until the GUI exists (what `make run` does).

It writes a few seconds of synthetic video (moving shapes on a textured background) into a temporary
folder with OpenCV's mp4v writer, then runs `slowfast predict` on it at a small input size and explains how
to get meaningful labels (`--weights`). Needs no camera, no network and no files.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.commands.predict import add_model_arguments, predict_video
from slowfast_core.commands.predict_options import PredictOptions
from slowfast_core.errors import VideoError

DEMO_SIZE = 160  # short side: cheap on a CPU, still >= 112 as the models want


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    p = sub.add_parser("demo", help="predict on a generated clip: a quick check that everything works")
    add_model_arguments(p)
    p.add_argument("--seconds", type=float, default=4.0, help="length of the generated clip (default: %(default)s)")
    p.set_defaults(func=run, size=DEMO_SIZE)


def write_synthetic_clip(
    path: str | os.PathLike[str], *, seconds: float = 4.0, fps: float = 30.0, width: int = 320, height: int = 240,
    fourcc: str = "mp4v", seed: int = 0,
) -> int:
    """Write a clip of moving shapes (a disc across, a bar down, a square circling) and return its frame count.

    The background is a colour gradient with fixed noise so that resizing has texture to work on. Frames are
    a deterministic function of (index, seed). Raises VideoError when OpenCV cannot write `path`.
    """
    if seconds <= 0 or fps <= 0 or width < 16 or height < 16:
        raise VideoError(f"cannot make a {seconds} s, {fps} fps, {width}x{height} clip: use positive sizes")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
    if not writer.isOpened():
        raise VideoError(f"OpenCV cannot write video {path} with codec {fourcc}: check the folder is writable")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [xx * 200 // max(width - 1, 1), yy * 200 // max(height - 1, 1), (xx + yy) * 100 // (width + height)], axis=-1
    ).astype(np.int16)
    background += rng.integers(-20, 21, size=background.shape, dtype=np.int16)
    background = np.clip(background, 0, 255).astype(np.uint8)  # (H, W, 3) BGR
    count = max(1, int(round(seconds * fps)))
    try:
        for i in range(count):
            t = i / fps
            frame = background.copy()
            r = max(4, height // 8)
            cx = int((t * width / 2.0) % width)
            cv2.circle(frame, (cx, height // 3), r, (40, 40, 230), -1)
            bar_y = int((t * height / 1.5) % height)
            cv2.rectangle(frame, (width // 2, bar_y), (width // 2 + width // 10, min(height - 1, bar_y + height // 5)),
                          (230, 200, 30), -1)
            ang = 2 * np.pi * t / 2.0
            sx = int(width * 0.7 + width * 0.15 * np.cos(ang))
            sy = int(height * 0.65 + height * 0.2 * np.sin(ang))
            cv2.rectangle(frame, (sx - r // 2, sy - r // 2), (sx + r // 2, sy + r // 2), (30, 230, 60), -1)
            writer.write(frame)
    finally:
        writer.release()
    return count


def run(args: argparse.Namespace) -> int:
    """Generate a clip, predict on it, explain the result."""
    with tempfile.TemporaryDirectory(prefix="slowfast-demo-") as tmp:
        clip = Path(tmp) / "demo.mp4"
        print(f"slowfast demo: writing a {args.seconds:g} s synthetic clip (moving shapes, 320x240, 30 fps) to {clip}")
        frames = write_synthetic_clip(clip, seconds=args.seconds)
        arch = args.arch or "slowfast_8x8_r50"
        weights = args.weights or "random weights"
        print(f"slowfast demo: {frames} frames written; predicting with {arch} ({weights}) at short side {args.size}")
        print(f"slowfast demo: the same as `slowfast predict {clip.name} --size {args.size}`:\n", flush=True)
        options = PredictOptions(arch=args.arch, weights=args.weights, size=args.size, crop=args.crop,
                                 device=args.device, backend=args.backend, format="text")
        status = predict_video(str(clip), options)
    print()
    if args.weights is None:
        print("The labels above are meaningless: the model has random weights and the clip shows no action.")
        print("For real predictions on your own video:")
        print("  slowfast weights download SLOWFAST_8x8_R50")
        print("  slowfast predict VIDEO --weights SLOWFAST_8x8_R50")
    else:
        print("Now try your own video: slowfast predict VIDEO --weights " + args.weights)
    sys.stdout.flush()
    return status
