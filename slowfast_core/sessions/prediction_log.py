"""The predictions a recording saw: one `PredictionRecord` per line of predictions.jsonl, plus its feature.

Each line is flushed as it is written; `sync` fsyncs (the recorder's writer thread calls it about once a
second). Thread-safe: the inference thread appends while the writer thread syncs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import TextIO

from slowfast_core.sessions.features import FeatureWriter
from slowfast_core.sessions.layout import PREDICTIONS_JSONL
from slowfast_core.stream.types import Prediction

logger = logging.getLogger(__name__)


class PredictionLog:
    """Appends predictions (and their pooled features, for Teach) to a session folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / PREDICTIONS_JSONL
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._features = FeatureWriter(folder)
        self._dirty = False

    def append(self, prediction: Prediction, origin: float) -> None:
        """Write `prediction` with times in session seconds (engine time - `origin`). A prediction holding
        NaN or infinity is logged and skipped (not JSON); OSError when the files cannot be written."""
        record = prediction.record(origin)
        try:
            line = json.dumps(record.to_dict(), ensure_ascii=False, allow_nan=False) + "\n"
        except ValueError:  # the worker never sends one; a line that is not JSON would hide the others
            logger.error("prediction %s holds a value that is not a number: not recorded", prediction.id)
            return
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
            self._dirty = True
            # Teach learns from full windows: a padded one (the first seconds after a start) repeats its oldest
            # frame back over time the session never saw, so its feature is not kept
            if prediction.feature is not None and prediction.feature_identity is not None and not prediction.padded:
                self._features.append(record.start, record.end, prediction.feature, prediction.feature_identity)

    def sync(self, *, force: bool = False) -> None:
        """fsync predictions.jsonl and features.bin when they changed since the last time (or `force`)."""
        with self._lock:
            if self._file is not None and (force or self._dirty):
                self._dirty = False
                os.fsync(self._file.fileno())
                features = self._features.fileno()
                if features is not None:
                    os.fsync(features)

    def close(self) -> None:
        """Flush and close both files; OSError when the last flush failed (the files are closed anyway)."""
        with self._lock:
            f, self._file = self._file, None
            try:
                if f is not None:
                    try:
                        f.flush()
                    finally:
                        f.close()
            finally:
                self._features.close()

    def discard(self) -> None:
        """Close after a failed write, dropping what could not be written (its error was reported)."""
        with self._lock:
            f, self._file = self._file, None
            self._features.close()
        if f is not None:
            try:
                f.close()
            except OSError:
                pass  # the buffer that failed to write fails again: that failure was reported already
