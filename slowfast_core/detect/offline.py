"""Who is doing what in a video file, window by window: the offline form of the live detection path.

The same windows as `predict` (`predict.iter_windows`: the one cutter, frames resized once), the full frame
(AVA's boxes cover it), and for each window `PeopleStep`: boxes on the key frame, the RoI head, the tracker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import cv2

from slowfast_core.detect.base import Detector
from slowfast_core.detect.people import PeopleResult, PeopleStep
from slowfast_core.model.detection import SlowFastDetection
from slowfast_core.video.file_windows import WindowSpan, iter_windows
from slowfast_core.records import PredictionRecord
from slowfast_core.spec import Preprocessing
from slowfast_core.video.decode import DecodedFrame


@dataclass(frozen=True)
class PeopleWindow:
    """One window's span and its people."""

    span: WindowSpan
    result: PeopleResult

    def record(self) -> PredictionRecord:
        """The one prediction record, with `people` (and an empty whole-frame top-k)."""
        s = self.span
        return PredictionRecord(window=s.number, start=s.start, end=s.end, topk=(), first_frame=s.first_frame,
                                last_frame=s.last_frame, padded=s.padded, people=self.result.people)

    def to_dict(self) -> dict[str, object]:
        out = self.record().to_dict()
        out.pop("topk", None)  # per person, not per frame
        return out


def predict_people_frames(frames: Iterable[DecodedFrame], *, model: SlowFastDetection, detector: Detector,
                          stride: float | None = None, threshold: float = 0.5,
                          preprocessing: Preprocessing | None = None, smooth: bool = True) -> Iterator[PeopleWindow]:
    """Per window of `frames`: the people, their track ids, boxes and actions."""
    prep = replace(preprocessing or model.meta.preprocessing, crop="full")
    step = PeopleStep(model, detector, threshold=threshold)
    for window in iter_windows(frames, geometry=model.config.geometry, prep=prep, stride=stride):
        key = cv2.cvtColor(window.key_frame, cv2.COLOR_RGB2BGR)  # type: ignore[arg-type]  # always set
        yield PeopleWindow(window.span, step.run(window.inputs, key, window=window.span.number, smooth=smooth))
