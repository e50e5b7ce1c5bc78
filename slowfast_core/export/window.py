"""A real window to verify an export on: frames of a video (or of the synthetic actions scene) through the one
window cutter and preprocessing that predict, live and training use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from slowfast_core.errors import ExportError
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.video.decode import DecodedFrame


def _synthetic_frames(size: int, count: int) -> Iterator[DecodedFrame]:
    """A scripted actor's frames (two actions, one per half) as decoded BGR frames at 30 fps."""
    from slowfast_core.video.scripted import ActionScriptSource

    height = max(size, 64)
    width = int(round(height * 4 / 3)) // 2 * 2
    actor = ActionScriptSource([(5, count / 60), (2, count / 60)], width=width, height=height, paced=False)
    for i in range(count):
        yield i, i / 30.0, cv2.cvtColor(actor.render(i), cv2.COLOR_RGB2BGR)


def real_window(geometry: ClipGeometry, prep: Preprocessing, size: int, *, video: str | Path | None = None,
                batch: int = 2) -> list[torch.Tensor]:
    """`batch` consecutive windows of `video` (default: the synthetic actions scene), stacked per pathway:
    [(batch, 3, T_p, size, size)], centre-cropped to `size` after resizing the short side to `size`."""
    from slowfast_core.video.file_windows import iter_windows
    from slowfast_core.video.decode import VideoReader

    prep = replace(prep, short_side=size, crop="center")
    stride = geometry.window_seconds / 2
    count = int(geometry.window_frames * (1 + batch) / 2) + 2
    windows = []
    if video is not None:
        with VideoReader(video) as reader:
            for w in iter_windows(reader.frames(), geometry=geometry, prep=prep, stride=stride):
                windows.append(w.inputs)
                if len(windows) == batch:
                    break
    else:
        for w in iter_windows(_synthetic_frames(size, count), geometry=geometry, prep=prep, stride=stride):
            windows.append(w.inputs)
            if len(windows) == batch:
                break
    if not windows:
        raise ExportError(f"no window could be cut from {video}")
    while len(windows) < batch:  # a clip shorter than `batch` windows: repeat its last one
        windows.append(windows[-1])
    return [torch.cat([w[i] for w in windows]) for i in range(len(windows[0]))]  # [(B, 3, T_p, S, S)]


def as_arrays(names: list[str], inputs: list[torch.Tensor]) -> dict[str, np.ndarray]:
    """{input name: contiguous float32 array}."""
    return {n: np.ascontiguousarray(t.detach().cpu().float().numpy()) for n, t in zip(names, inputs)}
