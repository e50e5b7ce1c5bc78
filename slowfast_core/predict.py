"""Offline prediction over a video file, without the real-time engine: windows in, top-k labels out.

Windows are cut by the one window cutter the live engine and training use (`video.windows`: `WindowClock`
says when windows end, `cut_window` takes their frames); `preprocess.pathway_tensors` makes the inputs, and
each answer is written as the one `records.PredictionRecord`.

`video.file_windows.iter_windows` runs them over decoded frames, preparing each frame once and keeping only the
frames the current and next windows can use (memory stays bounded on a long file); `predict_frames` /
`predict_file` add the model. A window's span is [first grid instant, last grid instant + 1/30 s): T*tau/30 seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from slowfast_core.errors import ConfigError
from slowfast_core.records import PredictionRecord, TopK, probabilities, top_k
from slowfast_core.spec import Preprocessing
from slowfast_core.video.decode import DecodedFrame, VideoReader
from slowfast_core.video.file_windows import WindowSpan, iter_windows

if TYPE_CHECKING:
    from slowfast_core.backends.base import InferenceBackend
    from slowfast_core.model.net import SlowFast


@dataclass(frozen=True)
class WindowPrediction:
    """The model's answer for one window: its span, the top-k (label, probability) and all probabilities."""

    span: WindowSpan
    topk: TopK  # best first
    probs: np.ndarray = field(repr=False)  # (num_classes,) float32 softmax

    def record(self) -> PredictionRecord:
        """The one prediction record (see `slowfast_core.records`): span in file seconds, frames, padded, top-k."""
        s = self.span
        return PredictionRecord(window=s.number, start=s.start, end=s.end, topk=self.topk,
                                first_frame=s.first_frame, last_frame=s.last_frame, padded=s.padded)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready `record()`."""
        return self.record().to_dict()


def predict_frames(
    frames: Iterable[DecodedFrame], *, backend: "InferenceBackend", stride: float | None = None, topk: int = 5,
    preprocessing: Preprocessing | None = None, tail: bool = True,
) -> Iterator[WindowPrediction]:
    """Run `backend` (which holds the model) on every window of `frames`; yields one prediction per window.

    preprocessing: defaults to the model's (its weights' short side, mean, std, crop).
    """
    if topk < 1:
        raise ConfigError(f"topk must be >= 1, got {topk}")
    model = backend.model
    prep = preprocessing or model.meta.preprocessing
    categories = model.meta.categories
    for window in iter_windows(frames, geometry=model.config.geometry, prep=prep, stride=stride, tail=tail):
        logits = backend(window.inputs)  # (1, num_classes)
        probs = probabilities(logits, window=window.span.number).numpy()  # (C,) float32
        yield WindowPrediction(window.span, top_k(probs, categories, topk), probs)


def predict_file(
    path: str | os.PathLike[str], *, model: "SlowFast", backend: str = "auto", device: str = "auto",
    stride: float | None = None, topk: int = 5, short_side: int | None = None, crop: str | None = None,
) -> list[WindowPrediction]:
    """Decode `path` and predict every window with `model`: the Python form of `slowfast predict`.

    short_side / crop override the model's preprocessing. Raises VideoError for unreadable files; a file
    cut short gives the windows of what could be decoded (with a warning).
    """
    from slowfast_core.backends.base import create_backend

    prep = model.meta.preprocessing
    if short_side is not None:
        prep = replace(prep, short_side=short_side)
    if crop is not None:
        prep = replace(prep, crop=crop)
    runner = create_backend(model, backend=backend, device=device)
    with VideoReader(path) as video:
        return list(predict_frames(video.frames(), backend=runner, stride=stride, topk=topk, preprocessing=prep))
