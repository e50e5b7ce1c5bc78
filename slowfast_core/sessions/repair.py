"""Salvage a session whose recording never finished (crash, `kill -9`, power cut, full disk).

Every readable segment is kept and joined into video.mp4; frames.csv is trimmed to the frames the video
really holds, labels to the video's time span (a labeled segment left open is closed at the last frame),
predictions to windows that end within it; then session.json says "repaired".
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from slowfast_core.sessions.layout import (
    CURRENT_LABEL,
    FRAMES_CSV,
    FRAMES_HEADER,
    LABELS_CSV,
    PREDICTIONS_JSONL,
    SEGMENTS_DIR,
    VIDEO_FILE,
    VIDEO_PART,
    LabeledSegment,
    SessionError,
    atomic_write_text,
    csv_line,
    labels_text,
    read_info,
    read_labels,
    write_info,
)
from slowfast_core.sessions.recorder import process_alive
from slowfast_core.sessions.store import read_frames, session_segments
from slowfast_core.sessions.video import JoinProgress, count_frames, join_segments

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairReport:
    """What `repair_session` found and kept. `repaired` False: the session was already finished."""

    path: Path
    repaired: bool
    frames_kept: int = 0
    frames_lost: int = 0  # rows of frames.csv whose frames no segment could give back
    segments_kept: int = 0
    segments_unreadable: int = 0  # segment files that do not decode (the one open at the crash)
    duration: float = 0.0  # seconds from the start to the last kept frame
    labels_kept: int = 0
    labels_trimmed: int = 0  # cut at the video's end (the open one included)
    labels_dropped: int = 0  # starting after the video's end
    open_label_closed: bool = False
    predictions_kept: int = 0
    predictions_dropped: int = 0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        if not self.repaired:
            return f"{self.path.name}: already finished, nothing to do"
        return (f"{self.path.name}: kept {self.frames_kept} frames ({self.duration:.1f} s) from "
                f"{self.segments_kept} segments, {self.segments_unreadable} unreadable, {self.frames_lost} "
                f"listed frames lost; {self.labels_kept} labels ({self.labels_trimmed} trimmed), "
                f"{self.predictions_kept} predictions ({self.predictions_dropped} dropped)")


def repair_session(path: Path | str, *, progress: JoinProgress | None = None) -> RepairReport:
    """Repair the unfinished session in `path` (see the module doc). Idempotent: a finished or repaired
    session is left alone. SessionError when it is still being recorded or is not a session folder."""
    path = Path(path)
    info = read_info(path)
    if not info.unfinished:
        return RepairReport(path=path, repaired=False, frames_kept=info.frames, duration=info.duration)
    if process_alive(info.pid, info.pid_started):
        raise SessionError(f"{path} is still being recorded by process {info.pid}: stop that recording first")

    table = read_frames(path)
    parts: list[tuple[Path, int]] = []
    kept_rows: list[tuple[int, int, int, float]] = []
    unreadable = 0
    segments = session_segments(path)
    if segments:
        for seg in segments:
            try:
                number = int(seg.stem)
            except ValueError:
                continue
            idx = np.flatnonzero(table.segment == number).tolist()
            readable = count_frames(seg)
            if readable == 0:
                unreadable += 1
            n = min(readable, len(idx))
            if n:
                parts.append((seg, n))
                kept_rows += [(0, number, int(table.source_index[k]), float(table.time[k])) for k in idx[:n]]
    elif (path / VIDEO_FILE).is_file():  # joined already, then interrupted before session.json said so
        n = min(count_frames(path / VIDEO_FILE), len(table))
        if n:
            parts.append((path / VIDEO_FILE, n))
            kept_rows = [(0, int(table.segment[k]), int(table.source_index[k]), float(table.time[k]))
                         for k in range(n)]

    total = sum(n for _, n in parts)
    written = 0
    if total:
        try:
            written = join_segments(parts, path / VIDEO_FILE, fps=info.fps, width=info.width, height=info.height,
                                    progress=progress)
        except OSError as exc:
            raise SessionError(f"cannot write the repaired video of {path} ({exc.strerror or exc}): free some "
                               "space and repair again") from None
    else:
        (path / VIDEO_FILE).unlink(missing_ok=True)
    kept_rows = [(k, seg, src, t) for k, (_, seg, src, t) in enumerate(kept_rows[:written])]
    atomic_write_text(path / FRAMES_CSV, csv_line(list(FRAMES_HEADER)) + "".join(csv_line(r) for r in kept_rows))
    last_time = kept_rows[-1][3] if kept_rows else 0.0

    labels, trimmed, dropped, closed = _trim_labels(path, last_time)
    atomic_write_text(path / LABELS_CSV, labels_text(labels))
    preds_kept, preds_dropped = _trim_predictions(path, last_time + 0.5 / info.fps)

    report = RepairReport(
        path=path, repaired=True, frames_kept=len(kept_rows), frames_lost=len(table) - len(kept_rows),
        segments_kept=len(parts), segments_unreadable=unreadable, duration=round(last_time, 6),
        labels_kept=len(labels), labels_trimmed=trimmed, labels_dropped=dropped, open_label_closed=closed,
        predictions_kept=preds_kept, predictions_dropped=preds_dropped,
    )
    info.state = "repaired"
    info.frames = len(kept_rows)
    info.duration = round(last_time, 6)
    info.pid = info.pid_started = None
    record = {k: v for k, v in asdict(report).items() if k not in ("path", "repaired")}
    info.repair = {"at": datetime.now().astimezone().isoformat(timespec="seconds"), **record}
    write_info(info)
    shutil.rmtree(path / SEGMENTS_DIR, ignore_errors=True)
    (path / CURRENT_LABEL).unlink(missing_ok=True)
    (path / VIDEO_PART).unlink(missing_ok=True)
    logger.info("repaired %s", report.summary())
    return report


def _trim_labels(path: Path, last_time: float) -> tuple[list[LabeledSegment], int, int, bool]:
    """labels.csv plus the open label, fitted into [0, last_time]: (labels, trimmed, dropped, open_closed)."""
    labels = read_labels(path)
    closed = False
    try:
        current = json.loads((path / CURRENT_LABEL).read_text(encoding="utf-8"))
        open_seg = (str(current["label"]), float(current["start"]))
    except (OSError, ValueError, KeyError, TypeError):
        open_seg = None
    trimmed = 0
    if open_seg is not None and open_seg[1] < last_time:
        labels.append(LabeledSegment(open_seg[0], open_seg[1], last_time))
        closed = True
        trimmed += 1
    kept, dropped = [], 0
    for seg in sorted(labels, key=lambda s: s.start):
        if seg.start >= last_time:
            dropped += 1
        elif seg.end > last_time:
            kept.append(LabeledSegment(seg.label, seg.start, last_time))
            trimmed += 1
        else:
            kept.append(seg)
    return kept, trimmed, dropped + (1 if open_seg is not None and not closed else 0), closed


def _trim_predictions(path: Path, until: float) -> tuple[int, int]:
    """Keep the predictions.jsonl lines whose window ends by `until`; torn lines go. Returns (kept, dropped)."""
    file = path / PREDICTIONS_JSONL
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return 0, 0
    kept, dropped = [], 0
    for line in text.splitlines(keepends=True):
        if not line.strip():
            continue
        try:
            obj = json.loads(line) if line.endswith("\n") else None
            ok = obj is not None and float(obj["end"]) <= until
        except (ValueError, KeyError, TypeError):
            ok = False
        if ok:
            kept.append(line)
        else:
            dropped += 1
    atomic_write_text(file, "".join(kept))
    return len(kept), dropped
