"""Salvage a session whose recording never finished (crash, `kill -9`, power cut, full disk), or whose files
were damaged later (a hand-edited session.json, garbage rows, a frames.csv that does not fit the video).

Every readable segment is kept and joined into video.mp4 (a finished session's video is kept as it is);
frames.csv is fitted to the frames the video really holds, labels to the video's time span (a labeled
segment left open is closed at the last frame), predictions to windows that end within it; session.json
gets back what the files show (fps and size from the video, frames and duration from the index, the label
set from labels.csv) and says "repaired". Nothing is thrown away: every file repair rewrites is first copied,
as it was, into the session's repair-backup/ folder. What repair cannot fix (a deleted video) is reported.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.sessions.folder import process_alive
from slowfast_core.sessions.layout import (
    CURRENT_LABEL,
    FRAMES_CSV,
    FRAMES_HEADER,
    LABELS_CSV,
    PREDICTIONS_JSONL,
    REPAIR_BACKUP_DIR,
    SEGMENTS_DIR,
    SESSION_JSON,
    VIDEO_FILE,
    VIDEO_PART,
    LabeledSegment,
    SessionError,
    SessionInfo,
    atomic_write_text,
    csv_line,
    labels_text,
    write_info,
)
from slowfast_core.sessions.reader import read_session_files
from slowfast_core.sessions.safe_read import MAX_TABLE_BYTES, complete_lines, read_text, regular_file_problem
from slowfast_core.sessions.tables import FrameTable, parse_prediction
from slowfast_core.sessions.store import session_segments
from slowfast_core.sessions.video import JoinProgress, count_frames, has_index, join_segments
from slowfast_core.spec import REFERENCE_FPS

logger = logging.getLogger(__name__)

Row = tuple[int, int, int, float]  # frame, segment, source_index, time


@dataclass(frozen=True)
class RepairReport:
    """What `repair_session` found and kept. `repaired` False: nothing was done (a healthy session, or
    problems repair cannot fix: see `left`)."""

    path: Path
    repaired: bool
    crashed: bool = False  # the session was unfinished (a crash, a kill, a full disk), not only damaged
    frames_kept: int = 0
    frames_lost: int = 0  # rows of frames.csv whose frames no segment could give back
    frames_indexed: int = 0  # frames of the video that frames.csv lacked and repair listed again
    segments_kept: int = 0
    segments_unreadable: int = 0  # segment files that do not decode (the one open at the crash)
    duration: float = 0.0  # seconds from the start to the last kept frame
    labels_kept: int = 0
    labels_trimmed: int = 0  # cut at the video's end (the open one included)
    labels_dropped: int = 0  # starting after the video's end
    open_label_closed: bool = False
    predictions_kept: int = 0
    predictions_dropped: int = 0
    fixed: tuple[str, ...] = ()  # the problems found before that are gone now
    left: tuple[str, ...] = ()  # the problems repair could not fix
    backup: Path | None = None  # where the originals of the rewritten files are

    def summary(self) -> str:
        """One line for logs and the CLI."""
        left = f"; not fixed: {'; '.join(self.left)}" if self.left else ""
        if not self.repaired:
            if self.left:
                return f"{self.path.name}: cannot be repaired: {'; '.join(self.left)}"
            return f"{self.path.name}: already finished, nothing to do"
        fixed = f"; fixed {len(self.fixed)} problem{'s' if len(self.fixed) != 1 else ''}" if self.fixed else ""
        backup = f"; originals in {self.backup.name}/" if self.backup else ""
        if not self.crashed:
            return (f"{self.path.name}: {fixed[2:] or 'checked'}{left}; kept {self.frames_kept} frames "
                    f"({self.duration:.1f} s), {self.labels_kept} labels, {self.predictions_kept} predictions"
                    f"{backup}")
        return (f"{self.path.name}: kept {self.frames_kept} frames ({self.duration:.1f} s) from "
                f"{self.segments_kept} segments, {self.segments_unreadable} unreadable, {self.frames_lost} "
                f"listed frames lost; {self.labels_kept} labels ({self.labels_trimmed} trimmed), "
                f"{self.predictions_kept} predictions ({self.predictions_dropped} dropped){fixed}{left}{backup}")


class _Backup:
    """Copies files into the session's repair-backup/ before repair replaces them (never overwriting an
    earlier backup)."""

    def __init__(self, session: Path) -> None:
        self.folder = session / REPAIR_BACKUP_DIR
        self.used = False

    def _target(self, name: str) -> Path:
        self.folder.mkdir(exist_ok=True)
        target, k = self.folder / name, 1
        while os.path.lexists(target):
            target, k = self.folder / f"{name}.{k}", k + 1
        self.used = True
        return target

    def copy(self, file: Path) -> None:
        """Keep a copy of `file` (a regular file; anything else is left alone)."""
        if regular_file_problem(file) is None:
            shutil.copy2(file, self._target(file.name))

    def move(self, file: Path) -> None:
        """Move `file` out of the way into the backup folder."""
        if os.path.lexists(file):
            os.replace(file, self._target(file.name))


def _replace(file: Path, text: str, backup: _Backup) -> bool:
    """Write `text` to `file` unless it already holds exactly that; back the old content up first."""
    old, _ = read_text(file, limit=MAX_TABLE_BYTES)
    if old == text:
        return False
    if old or regular_file_problem(file) not in (None, "is missing"):
        backup.copy(file)
    atomic_write_text(file, text)
    return True


def _probe(file: Path) -> tuple[float, int, int] | None:
    """(fps, width, height) of a video file that opens, else None."""
    if regular_file_problem(file) is not None or not has_index(file):
        return None
    cap = cv2.VideoCapture(str(file))
    try:
        if not cap.isOpened():
            return None
        fps, w, h = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), \
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if not (0 < fps <= 1000 and w > 0 and h > 0):
        return None
    return float(fps), w, h


def repair_session(path: Path | str, *, progress: JoinProgress | None = None) -> RepairReport:
    """Repair the session in `path` (see the module doc). Idempotent: a healthy finished or repaired session
    is left alone. SessionError when it is still being recorded or is not a session folder."""
    path = Path(path)
    files = read_session_files(path)
    info = files.info
    before = [str(p) for p in info.problems]
    if info.unfinished and process_alive(info.pid, info.pid_started):
        raise SessionError(f"{path} is still being recorded by process {info.pid}: stop that recording first")
    if not info.unfinished and not any(p.repair for p in info.problems):
        return RepairReport(path=path, repaired=False, frames_kept=info.frames, duration=info.duration,
                            left=tuple(before))
    backup = _Backup(path)
    video = path / VIDEO_FILE
    table = files.frames
    segments = session_segments(path)
    video_gone = any(p.file == VIDEO_FILE for p in info.problems)
    probe = _probe(video) or next((p for p in map(_probe, segments) if p is not None), None)
    fps = info.fps if "fps" not in info.invalid or probe is None else probe[0]

    parts: list[tuple[Path, int]] = []
    kept_rows: list[Row] = []
    unreadable = indexed = 0
    video_known = True  # False: a finished session's video is lost; its labels and predictions stay whole
    if segments and (info.unfinished or video_gone):
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
    elif regular_file_problem(video) is None and has_index(video):  # finished, or joined before a crash
        n = count_frames(video)
        kept_rows, indexed = _fit_rows(table, n, fps)
    elif not info.unfinished:
        video_known = False
        kept_rows = [(int(f), int(s), int(i), float(t))
                     for f, s, i, t in zip(table.frame, table.segment, table.source_index, table.time)]
    elif os.path.lexists(video):  # unfinished, nothing readable anywhere: keep the broken file aside
        backup.move(video)

    if parts:
        if os.path.lexists(video) and not (regular_file_problem(video) is None and has_index(video)):
            backup.move(video)  # a damaged or partial join: kept aside; the segments are the better copy
        try:
            written = join_segments(parts, video, fps=fps, width=probe[1] if probe else info.width,
                                    height=probe[2] if probe else info.height, progress=progress)
        except OSError as exc:
            raise SessionError(f"cannot write the repaired video of {path} ({exc.strerror or exc}): free some "
                               "space and repair again") from None
        kept_rows = kept_rows[:written]
    kept_rows = [(k, seg, src, t) for k, (_, seg, src, t) in enumerate(kept_rows)] if video_known else kept_rows
    _replace(path / FRAMES_CSV, csv_line(list(FRAMES_HEADER)) + "".join(csv_line(r) for r in kept_rows), backup)
    last_time = kept_rows[-1][3] if kept_rows else 0.0

    until = last_time if video_known else None
    labels, trimmed, dropped, closed = _trim_labels(path, files.labels, until)
    _replace(path / LABELS_CSV, labels_text(labels), backup)
    # a record's span ends one reference frame past its last grid instant, which must lie within the video
    preds_kept, preds_dropped = _trim_predictions(
        path, None if until is None else until + 0.5 / fps + 1.0 / REFERENCE_FPS, backup)

    report = RepairReport(
        path=path, repaired=True, crashed=info.unfinished, frames_kept=len(kept_rows),
        frames_lost=max(0, len(table) - (len(kept_rows) - indexed)), frames_indexed=indexed,
        segments_kept=len(parts), segments_unreadable=unreadable, duration=round(last_time, 6),
        labels_kept=len(labels), labels_trimmed=trimmed, labels_dropped=dropped, open_label_closed=closed,
        predictions_kept=preds_kept, predictions_dropped=preds_dropped,
    )
    _fix_info(info, labels, probe, backup)
    info.state = "repaired"
    info.frames = len(kept_rows) if video_known else info.frames
    info.duration = round(last_time, 6)
    info.pid = info.pid_started = None
    record = {k: v for k, v in asdict(report).items()
              if k not in ("path", "repaired", "crashed", "fixed", "left", "backup")}
    info.repair = {"at": datetime.now().astimezone().isoformat(timespec="seconds"), **record}
    write_info(info)
    shutil.rmtree(path / SEGMENTS_DIR, ignore_errors=True)
    (path / CURRENT_LABEL).unlink(missing_ok=True)
    (path / VIDEO_PART).unlink(missing_ok=True)
    after = [str(p) for p in read_session_files(path).info.problems]
    report = RepairReport(**{**report.__dict__, "fixed": tuple(p for p in before if p not in after),
                             "left": tuple(after), "backup": backup.folder if backup.used else None})
    logger.info("repaired %s", report.summary())
    return report


def _fit_rows(table: FrameTable, n: int, fps: float) -> tuple[list[Row], int]:
    """Rows for frames 0..n-1 of a video that holds `n` frames: frames.csv's own rows where it has them,
    times interpolated (or continued at `fps`) for the frames it lacks. Returns (rows, rows made up)."""
    known = {int(f): k for k, f in enumerate(table.frame.tolist()) if 0 <= f < n}
    if len(known) == n:
        return [(f, int(table.segment[k]), int(table.source_index[k]), float(table.time[k]))
                for f, k in sorted(known.items())], 0
    have = np.array(sorted(known), dtype=np.float64)  # frame numbers with a time
    times = np.array([table.time[known[int(f)]] for f in have], dtype=np.float64)
    rows: list[Row] = []
    for f in range(n):
        k = known.get(f)
        if k is not None:
            rows.append((f, int(table.segment[k]), int(table.source_index[k]), float(table.time[k])))
            continue
        if len(have) >= 2 and have[0] <= f <= have[-1]:
            t = float(np.interp(f, have, times))
        elif len(have) and f > have[-1]:
            t = float(times[-1] + (f - have[-1]) / fps)
        elif len(have):
            t = max(0.0, float(times[0] - (have[0] - f) / fps))
        else:
            t = f / fps
        segment = rows[-1][1] if rows else 0
        rows.append((f, segment, -1, round(t, 6)))
    return rows, n - len(known)


def _fix_info(info: SessionInfo, labels: list[LabeledSegment], probe: tuple[float, int, int] | None,
              backup: _Backup) -> None:
    """Give the invalid fields of session.json what the files show (see the module doc), backing the old
    session.json up first. Fields with no evidence keep their original (invalid) value."""
    backup.copy(info.path / SESSION_JSON)
    keep_invalid = set()
    if "labels" in info.invalid:
        info.labels = list(dict.fromkeys(seg.label for seg in labels))
    for key, k in (("fps", 0), ("width", 1), ("height", 2)):
        if key in info.invalid:
            if probe is None:
                keep_invalid.add(key)
            else:
                setattr(info, key, probe[k])
    if "start_time" in info.invalid and not info.start_time:
        mtime = os.stat(info.path).st_mtime
        info.start_time = datetime.fromtimestamp(mtime).astimezone().isoformat(timespec="milliseconds")
    info.invalid = frozenset(keep_invalid)


def _trim_labels(path: Path, labels: list[LabeledSegment], until: float | None,
                 ) -> tuple[list[LabeledSegment], int, int, bool]:
    """`labels` plus the open label, fitted into [0, until] (None: kept whole, the open one closed at its
    start + nothing, i.e. dropped): (labels, trimmed, dropped, open_closed)."""
    labels = list(labels)
    closed = False
    try:
        current = json.loads((path / CURRENT_LABEL).read_text(encoding="utf-8")) \
            if regular_file_problem(path / CURRENT_LABEL) is None else None
        open_seg = (str(current["label"]), float(current["start"]))
    except (OSError, ValueError, KeyError, TypeError):
        open_seg = None
    if until is None:
        return labels, 0, 1 if open_seg is not None else 0, False
    trimmed = 0
    if open_seg is not None and open_seg[1] < until:
        labels.append(LabeledSegment(open_seg[0], open_seg[1], until))
        closed = True
        trimmed += 1
    kept, dropped = [], 0
    for seg in sorted(labels, key=lambda s: s.start):
        if seg.start >= until:
            dropped += 1
        elif seg.end > until:
            kept.append(LabeledSegment(seg.label, seg.start, until))
            trimmed += 1
        else:
            kept.append(seg)
    return kept, trimmed, dropped + (1 if open_seg is not None and not closed else 0), closed


def _trim_predictions(path: Path, until: float | None, backup: _Backup) -> tuple[int, int]:
    """Keep the predictions.jsonl lines that are predictions and whose window ends by `until` (None: any
    time); torn and malformed lines go (into the backup). Returns (kept, dropped)."""
    file = path / PREDICTIONS_JSONL
    text, _ = read_text(file, limit=MAX_TABLE_BYTES)
    if text is None:
        return 0, 0
    lines, torn = complete_lines(text)
    kept, dropped = [], 1 if torn is not None else 0
    for _, line in lines:
        if not line.strip():
            continue
        try:
            record = parse_prediction(json.loads(line))
            ok = until is None or record.end <= until
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if ok:
            kept.append(line + "\n")
        else:
            dropped += 1
    _replace(file, "".join(kept), backup)
    return len(kept), dropped
