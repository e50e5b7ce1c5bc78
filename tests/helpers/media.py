"""Frames, predictions and clips for tests: built the way the engine builds them, written and read with OpenCV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.stream.types import FramePacket, Prediction, Timings


def gray(i: int) -> int:
    """Gray level of synthetic frame i: neighbours differ by >= 37 levels, far more than mp4v's error."""
    return 30 + (i * 37) % 200


def frame_packet(index: int, timestamp: float, *, width: int = 160, height: int = 120, fps: float = 30.0,
                 image: np.ndarray | None = None) -> FramePacket:
    """Captured frame `index` at engine time `timestamp`: uniformly `gray(index)` unless `image` is given."""
    if image is None:
        image = np.full((height, width, 3), gray(index), np.uint8)  # (H, W, 3) RGB
    return FramePacket(index=index, timestamp=timestamp, image=image, source_fps=fps)


def make_prediction(pid: int, start: float, end: float, topk: tuple[tuple[str, float], ...] = (("wave", 0.7),),
                    *, label: str | None = "wave", num_classes: int = 4, first_index: int = 0,
                    last_index: int = 1, backend: str = "torch-eager") -> Prediction:
    """A prediction for the window [start, end] (engine seconds) with the given top-k."""
    return Prediction(
        id=pid, start_time=start, end_time=end, first_index=first_index, last_index=last_index, topk=topk,
        probs=np.zeros(num_classes, np.float32), label=label, confidence=topk[0][1] if topk else 0.0,
        timings=Timings(waited_ms=1.0, prepared_ms=2.0, inferred_ms=30.0, end_to_end_ms=40.0), backend=backend,
    )


def write_clip(path: Path, levels: Sequence[int], *, fps: float, size: tuple[int, int] = (64, 48)) -> Path:
    """An mp4v clip (size = (width, height)) whose frame i is uniformly gray `levels[i]`."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), path
    for level in levels:
        writer.write(np.full((height, width, 3), int(level) % 256, np.uint8))
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from `path` (BGR)."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} does not open"
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames
