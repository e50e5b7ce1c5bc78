"""The features a session recorded: each window's pooled feature (float16), its span, and the model's identity.

Two files in the session folder, written by the recorder as predictions arrive:
```
features.json   {"format": 1, "identity": {"arch", "digest", "size", "dim"}, "dtype": "float16"}
features.bin    fixed-size rows: start (float64 s), end (float64 s), feature (dim x float16), appended
```
Rows have a fixed size, so a crash leaves at most one torn row at the end, which the reader drops. Only the
features of the model named in features.json are kept: after a switch to another backbone the rest of the
session records none (a taught head on the same backbone keeps recording). Teach reads them back to train a
classifier without decoding any video.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from slowfast_core.model.identity import FeatureIdentity
from slowfast_core.sessions.layout import atomic_write_text

logger = logging.getLogger(__name__)

FEATURES_JSON = "features.json"
FEATURES_BIN = "features.bin"
FORMAT = 1


def row_dtype(dim: int) -> np.dtype:
    """One record: start and end in session seconds, then the feature."""
    return np.dtype([("start", "<f8"), ("end", "<f8"), ("feature", "<f2", (dim,))])


class FeatureWriter:
    """Appends features of one model to a session folder (the caller serialises calls)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.identity: FeatureIdentity | None = None
        self._file: BinaryIO | None = None
        self.rows = 0
        self.skipped = 0  # features of another backbone than the first one

    def append(self, start: float, end: float, feature: np.ndarray, identity: FeatureIdentity) -> None:
        """Write one row (OSError on a write failure: the recorder reports it like any other)."""
        if self.identity is None:
            atomic_write_text(self.folder / FEATURES_JSON, json.dumps(
                {"format": FORMAT, "identity": identity.to_json(), "dtype": "float16"}, indent=1) + "\n")
            self.identity = identity
            self._file = open(self.folder / FEATURES_BIN, "ab")
        elif identity != self.identity:
            if not self.skipped:
                logger.info("features of %s not recorded: the session records those of %s",
                            identity.describe(), self.identity.describe())
            self.skipped += 1
            return
        row = np.zeros(1, row_dtype(identity.dim))
        row["start"], row["end"] = start, end
        row["feature"][0] = np.clip(feature, -65000.0, 65000.0)  # float16 range; no inf from a large value
        assert self._file is not None
        self._file.write(row.tobytes())
        self._file.flush()
        self.rows += 1

    def fileno(self) -> int | None:
        return self._file.fileno() if self._file is not None else None

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None


@dataclass(frozen=True)
class RecordedFeatures:
    """A session's features read back: spans (N,), (N,) in session seconds and features (N, dim) float32."""

    identity: FeatureIdentity
    starts: np.ndarray
    ends: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)


def read_features(folder: Path) -> RecordedFeatures | None:
    """The features recorded in `folder`, or None when it has none (or they are unreadable: logged)."""
    header, data = folder / FEATURES_JSON, folder / FEATURES_BIN
    if not header.is_file() or not data.is_file():
        return None
    try:
        meta = json.loads(header.read_text(encoding="utf-8"))
        identity = FeatureIdentity.from_json(meta["identity"])
        if meta.get("format") != FORMAT or identity.dim < 1:
            raise ValueError(f"format {meta.get('format')}, dim {identity.dim}")
        dtype = row_dtype(identity.dim)
        raw = data.read_bytes()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("features of %s are unreadable (%s): they will be computed from the video", folder, exc)
        return None
    rows = np.frombuffer(raw[: len(raw) // dtype.itemsize * dtype.itemsize], dtype=dtype)  # a torn last row dropped
    feats = rows["feature"].astype(np.float32)
    ok = np.isfinite(feats).all(axis=1) & np.isfinite(rows["start"]) & np.isfinite(rows["end"]) & (rows["end"] > rows["start"])
    return RecordedFeatures(identity, rows["start"][ok].copy(), rows["end"][ok].copy(), feats[ok])
