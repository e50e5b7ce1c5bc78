"""Annotated video: frames with the live overlay drawn on them, each prediction from the moment its window ends.

A live viewer sees a window's prediction once the window's last frame has arrived (plus inference time,
which offline work does not have), and keeps seeing it, ageing and eventually dimmed as stale, until the
next one. `OverlayTimeline` replays that rule over frame times; `FrameAnnotator` draws the overlay of
`slowfast_core.overlay` (the same layout as the window) onto each frame. Two users:
- `PredictAnnotator`: `slowfast predict VIDEO --annotate OUT.mp4`, fed while predict decodes the file once;
- `slowfast_core.sessions.annotate`: a recorded session with its marked labels.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from slowfast_core.overlay.content import Marking, ShownPrediction, overlay_content, stale_after
from slowfast_core.overlay.layout import OverlayLayout
from slowfast_core.overlay.opencv import draw_overlay
from slowfast_core.stream.settings import EngineSettings
from slowfast_core.stream.smoothing import Smoother
from slowfast_core.video.decode import DecodedFrame
from slowfast_core.video.encode import VideoFileWriter

if TYPE_CHECKING:
    from slowfast_core.predict import WindowPrediction

logger = logging.getLogger(__name__)

#: Float slack when comparing frame times with window ends (both are multiples of 1/fps or 1/30 s).
TIME_EPS = 1e-6


class OverlayTimeline:
    """Which prediction the overlay shows at time t: the newest whose window ended at or before t.

    Predictions are added in order of their end times and frames are asked for in time order, so only the
    ones not yet shown are kept (memory stays bounded over a long file).
    """

    def __init__(self) -> None:
        self._upcoming: deque[ShownPrediction] = deque()
        self.current: ShownPrediction | None = None

    def add(self, shown: ShownPrediction) -> None:
        """Queue `shown` (its window ends at `shown.end`)."""
        self._upcoming.append(shown)

    def at(self, t: float, *, final: bool = False) -> ShownPrediction | None:
        """The prediction to show at time `t`. final: the clip's last frame, which shows every prediction made
        (a clip shorter than one window gets its one padded prediction there)."""
        while self._upcoming and (final or self._upcoming[0].end <= t + TIME_EPS):
            self.current = self._upcoming.popleft()
        return self.current


class FrameAnnotator:
    """Draws the overlay (top-k, span, age, staleness, UNTRAINED) onto frames given in time order."""

    def __init__(self, *, untrained: bool, topk: int, threshold: float, stride_s: float) -> None:
        self.timeline = OverlayTimeline()
        self.untrained = untrained
        self.topk = topk
        self.threshold = threshold
        self.stale_seconds = stale_after(stride_s)

    def draw(self, bgr: np.ndarray, t: float, *, final: bool = False, marking: Marking | None = None) -> OverlayLayout:
        """Draw onto `bgr` ((H, W, 3) uint8, in place) the overlay a viewer saw at time `t` (seconds)."""
        content = overlay_content(self.timeline.at(t, final=final), now=t, topk=self.topk,
                                  stale_seconds=self.stale_seconds, untrained=self.untrained)
        return draw_overlay(bgr, content, threshold=self.threshold, marking=marking)


def fit_frame(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """`bgr` at (height, width): a stream whose frame size changes is resized to the first size."""
    if bgr.shape[1] != width or bgr.shape[0] != height:
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    return bgr


class PredictAnnotator:
    """`slowfast predict --annotate`: writes the decoded frames, annotated, while predict runs over them.

    Wrap the decoded frames with `frames(...)` and pass every prediction to `add(...)`; a frame is written
    when the next one is decoded (by then every window ending at or before it has been predicted), the last
    one by `close()`. Labels are smoothed as in the live engine (its default smoothing, threshold and
    hysteresis), so the headline is what `slowfast run` would have shown. `abort()` deletes the partial file.
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: float, width: int, height: int,
                 categories: Sequence[str], untrained: bool, topk: int, stride_s: float) -> None:
        defaults = EngineSettings()
        self.smoother = Smoother(categories, window=defaults.smoothing, threshold=defaults.threshold,
                                 hysteresis=defaults.hysteresis)
        self.annotator = FrameAnnotator(untrained=untrained, topk=topk, threshold=defaults.threshold,
                                        stride_s=stride_s)
        self.writer = VideoFileWriter(path, fps=fps, width=width, height=height)
        self._pending: DecodedFrame | None = None

    @property
    def frames_written(self) -> int:
        return self.writer.frames

    def frames(self, frames: Iterable[DecodedFrame]) -> Iterator[DecodedFrame]:
        """Pass `frames` through, writing each previous one annotated."""
        for frame in frames:
            self._write_pending(final=False)
            self._pending = frame
            yield frame

    def add(self, prediction: "WindowPrediction") -> None:
        """A window's prediction, shown from its last grid instant (`span.end_time`) on."""
        smoothed = self.smoother.update(prediction.probs)
        span = prediction.span
        self.annotator.timeline.add(ShownPrediction(
            topk=prediction.topk, label=smoothed.label, confidence=smoothed.confidence, start=span.start,
            end=span.end_time, padded=span.padded,
        ))

    def close(self) -> Path:
        """Write the last frame (with the last predictions) and finish the file under its name."""
        self._write_pending(final=True)
        return self.writer.close()

    def abort(self) -> None:
        """Stop and delete the partial file."""
        self._pending = None
        self.writer.abort()

    def _write_pending(self, *, final: bool) -> None:
        if self._pending is None:
            return
        index, t, bgr = self._pending
        self._pending = None
        # drawn in place: predict made its own (RGB, resized) copy of this frame when it was decoded
        frame = fit_frame(bgr, self.writer.width, self.writer.height)
        self.annotator.draw(frame, t, final=final)
        self.writer.write(frame)
