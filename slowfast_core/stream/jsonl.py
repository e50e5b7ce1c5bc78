"""The headless JSONL writer: an engine subscriber that writes one JSON object per prediction, one per line.

The fields shared with `slowfast predict --json` have the same names and meaning (window, start, end,
first_frame, last_frame, topk [{label, prob}], rounded the same way), so the outputs of `slowfast run` on an
unpaced file and of `slowfast predict` can be compared line by line. Times are seconds from the first frame
(the file's media time offline). Added here: the smoothed `label` (null: no confident action), its
`confidence`, the `timings` in ms and the `backend`. Each line is flushed at once: a run stopped by a
signal loses nothing already predicted.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TextIO

from slowfast_core.predict import window_lead
from slowfast_core.spec import REFERENCE_FPS, ClipGeometry
from slowfast_core.stream.types import FramePacket, Prediction

logger = logging.getLogger(__name__)

def prediction_record(prediction: Prediction, *, geometry: ClipGeometry, origin: float = 0.0) -> dict[str, object]:
    """The JSON-ready record of one prediction (see the module doc); times relative to `origin`."""
    t = prediction.timings
    end_time = prediction.end_time - origin
    return {
        "window": prediction.id,
        "start": round(end_time - window_lead(geometry), 6),
        "end": round(end_time + 1.0 / REFERENCE_FPS, 6),
        "first_frame": prediction.first_index,
        "last_frame": prediction.last_index,
        "topk": [{"label": label, "prob": round(prob, 6)} for label, prob in prediction.topk],
        "label": prediction.label,
        "confidence": round(prediction.confidence, 6),
        "timings": {"waited_ms": round(t.waited_ms, 3), "prepared_ms": round(t.prepared_ms, 3),
                    "inferred_ms": round(t.inferred_ms, 3), "end_to_end_ms": round(t.end_to_end_ms, 3)},
        "backend": prediction.backend,
    }


class JsonlWriter:
    """Subscriber writing predictions to a text stream or a file, one flushed line each. Thread-safe."""

    def __init__(self, out: TextIO | str | Path, *, geometry: ClipGeometry) -> None:
        self._owns = not hasattr(out, "write")
        self._out: TextIO = open(out, "w", encoding="utf-8") if self._owns else out  # type: ignore[arg-type]
        self.geometry = geometry
        self.origin: float | None = None
        self.lines = 0
        self.error: OSError | None = None  # why writing stopped (a closed pipe, a full disk), if it did
        self.broken = threading.Event()  # set with `error`: the caller stops the run instead of losing lines
        self._lock = threading.Lock()

    def on_frame(self, frame: FramePacket) -> None:
        if self.origin is None:
            self.origin = frame.timestamp  # times in the output count from the first frame

    def on_prediction(self, prediction: Prediction) -> None:
        record = prediction_record(prediction, geometry=self.geometry, origin=self.origin or 0.0)
        with self._lock:
            if self._out.closed or self.error is not None:
                return
            try:
                line = json.dumps(record, allow_nan=False) + "\n"  # the worker publishes no NaN; never write one
            except ValueError:
                logger.error("window %s: a value is not a number: line not written", prediction.id)
                return
            try:
                self._out.write(line)
                self._out.flush()
            except OSError as exc:  # reader gone (`| head`) or disk full: report once, write no more
                self.error = exc
                self.broken.set()
                return
            self.lines += 1

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        with self._lock:
            if self._out.closed:
                return
            try:
                if self.error is None:
                    self._out.flush()
            except OSError as exc:
                self.error = exc
            finally:
                if self._owns:
                    try:
                        self._out.close()
                    except OSError:
                        pass
