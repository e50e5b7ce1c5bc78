"""The labels a person marks while recording: at most one open labeled segment, closed ones in labels.csv.

The open segment is also in current_label.json (replaced atomically), so a crash loses no label: repair
closes it at the last recorded frame. Not thread-safe: the recorder serialises calls under its lock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from slowfast_core.sessions.layout import CURRENT_LABEL, LABELS_CSV, LabeledSegment, csv_line, fsync_path


class LabelLog:
    """Toggle and end labeled segments (session seconds); OSError when a file cannot be written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.open: tuple[str, float] | None = None  # (label, start) of the segment open now
        self.dirty = False  # labels.csv changed since the last `sync`

    @property
    def current(self) -> str | None:
        """The label of the open segment, or None."""
        return self.open[0] if self.open else None

    def toggle(self, label: str, t: float) -> None:
        """`label` while it is open ends it; another label ends the open one and starts `label` at `t`."""
        current = self.open
        if current is not None:
            self.close(t)
        if current is None or current[0] != label:
            self.open = (label, t)
            _replace_text(self.folder / CURRENT_LABEL, json.dumps({"label": label, "start": round(t, 6)}))

    def close(self, end: float) -> LabeledSegment | None:
        """Append the open segment (ending at `end`) to labels.csv and forget it (None: nothing kept)."""
        assert self.open is not None
        label, start = self.open
        self.open = None
        (self.folder / CURRENT_LABEL).unlink(missing_ok=True)
        if end <= start:
            return None  # zero-length (pressed twice at once): nothing to keep
        seg = LabeledSegment(label, start, end)
        with open(self.folder / LABELS_CSV, "a", encoding="utf-8", newline="") as f:
            f.write(csv_line((seg.label, seg.start, seg.end)))
            f.flush()
        self.dirty = True
        return seg

    def sync(self, *, force: bool = False) -> None:
        """fsync labels.csv when it changed since the last time (or `force`)."""
        if force or self.dirty:
            self.dirty = False
            fsync_path(self.folder / LABELS_CSV)


def _replace_text(path: Path, text: str) -> None:
    """Replace a small file via a temp file and rename (no fsync: this runs on the GUI thread; a process
    crash cannot tear it, and the writer thread's periodic fsync covers the rest)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
