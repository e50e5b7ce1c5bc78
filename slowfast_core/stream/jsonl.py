"""The headless JSONL writer: an engine subscriber that writes one JSON object per prediction, one per line.

Each line is the one prediction record (`slowfast_core.records.PredictionRecord`), as `slowfast predict
--jsonl` and the session recorder write it, so the outputs of `slowfast run` on an unpaced file and of
`slowfast predict` can be compared line by line. Times are seconds from the first frame (the file's media
time offline). Live records also hold the smoothed `label` (null: no confident action), its `confidence`,
the `timings` in ms and the `backend`. Each line is flushed at once: a run stopped by a signal loses nothing
already predicted.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TextIO

from slowfast_core.stream.types import FramePacket, Prediction

logger = logging.getLogger(__name__)


class JsonlWriter:
    """Subscriber writing predictions to a text stream or a file, one flushed line each. Thread-safe."""

    def __init__(self, out: TextIO | str | Path) -> None:
        self._owns = not hasattr(out, "write")
        self._out: TextIO = open(out, "w", encoding="utf-8") if self._owns else out  # type: ignore[arg-type]
        self.origin: float | None = None
        self.lines = 0
        self.error: OSError | None = None  # why writing stopped (a closed pipe, a full disk), if it did
        self.broken = threading.Event()  # set with `error`: the caller stops the run instead of losing lines
        self._lock = threading.Lock()

    def on_frame(self, frame: FramePacket) -> None:
        if self.origin is None:
            self.origin = frame.timestamp  # times in the output count from the first frame

    def on_prediction(self, prediction: Prediction) -> None:
        record = prediction.record(self.origin or 0.0).to_dict()
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
