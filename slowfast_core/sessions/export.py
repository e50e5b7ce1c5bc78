"""Export sessions as a labeled-clips dataset that PySlowFast and PyTorchVideo read as they are.

```
OUT/clips/<label>/<session-folder>_<k>.mp4   one clip per labeled segment (mp4v, the session's fps and size)
OUT/train.csv                                 `clips/<label>/<file>.mp4 <label_id>` per line, space-separated
OUT/label_map.json                            {"label name": id}, ids 0..K-1
```
Paths in the CSV are relative to OUT (PySlowFast's DATA.PATH_PREFIX / PyTorchVideo's path_prefix = OUT).
Label ids follow the order of the sessions' label sets (first appearance wins), so a label set the user
ordered keeps its order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from slowfast_core.files import slugify
from slowfast_core.sessions.layout import (
    LABELS_CSV,
    SESSION_JSON,
    VIDEO_FILE,
    SessionError,
    atomic_write_text,
)
from slowfast_core.sessions.store import Session, load_session
from slowfast_core.sessions.video import open_writer

#: progress(done, total, what): called after each labeled segment (exported or skipped).
ExportProgress = Callable[[int, int, str], None]

LABEL_MAP_JSON = "label_map.json"
CLIPS_DIR = "clips"


@dataclass(frozen=True)
class ExportedClip:
    """One clip of the dataset."""

    path: str  # relative to the export folder, as written in the CSV
    label: str
    label_id: int
    session: str  # the session folder's name
    start: float  # seconds since that session's start
    end: float
    frames: int


@dataclass(frozen=True)
class ExportReport:
    """What `export_dataset` wrote."""

    out_dir: Path
    csv_path: Path
    label_map_path: Path
    label_map: dict[str, int]
    clips: tuple[ExportedClip, ...]
    skipped: tuple[str, ...]  # one line per session, labeled segment or labels.csv row that gave no clip, and why

    @property
    def sessions(self) -> tuple[str, ...]:
        """The folder names of the sessions that gave at least one clip, in export order."""
        return tuple(dict.fromkeys(c.session for c in self.clips))


def build_label_map(sessions: Sequence[Session]) -> dict[str, int]:
    """{label: id} over the sessions' label sets in order, then labels only found in labels.csv."""
    names: list[str] = []
    for s in sessions:
        for name in [*s.info.labels, *(seg.label for seg in s.labels)]:
            if name not in names:
                names.append(name)
    return {name: i for i, name in enumerate(names)}


def export_dataset(
    sessions: Sequence[Session | Path | str],
    out_dir: Path | str,
    *,
    progress: ExportProgress | None = None,
    csv_name: str = "train.csv",
    overwrite: bool = False,
    min_frames: int = 1,
) -> ExportReport:
    """Cut one clip per labeled segment of `sessions` into `out_dir` and write the CSV and label map.

    A session that cannot give clips (unfinished, its video missing or damaged, no usable fps or size) is
    skipped, and so are labeled segments with fewer than `min_frames` frames in the video and labels.csv rows
    the reader could not use: each is one line of the report's `skipped`, said once (the caller shows them).
    SessionError when nothing at all can be exported, or `out_dir` already holds an export and `overwrite`
    is False.
    """
    loaded = [s if isinstance(s, Session) else load_session(s) for s in sessions]
    if not loaded:
        raise SessionError("no sessions to export: record a session first, or name existing ones "
                           "(see `slowfast sessions list`)")
    skipped: list[str] = []
    usable: list[Session] = []
    for s in loaded:
        why = _unusable(s)
        if why is None:
            usable.append(s)
        else:
            skipped.append(f"{s.path.name}: {why}")
    if not usable:
        raise SessionError(f"nothing to export: {'; '.join(skipped)}")
    for s in usable:
        skipped += [f"{s.path.name}: {p}" for p in s.problems if p.file == LABELS_CSV]
    loaded = usable
    out = Path(out_dir).expanduser()
    csv_path, map_path = out / csv_name, out / LABEL_MAP_JSON
    if not overwrite and (csv_path.exists() or map_path.exists()):
        raise SessionError(f"{out} already holds an export ({csv_path.name}/{map_path.name}): choose another "
                           "folder or overwrite it")
    try:
        (out / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SessionError(f"cannot create the export folder {out} ({exc.strerror}): choose another folder") \
            from None
    label_map = build_label_map(loaded)
    total = sum(len(s.labels) for s in loaded)
    done = 0
    clips: list[ExportedClip] = []
    for session in loaded:
        for k, seg, result in _cut_session(session, out, min_frames=min_frames):
            done += 1
            if isinstance(result, str):
                skipped.append(result)
                what = result
            else:
                rel, frames = result
                clips.append(ExportedClip(rel, seg.label, label_map[seg.label], session.path.name, seg.start,
                                          seg.end, frames))
                what = rel
            if progress is not None:
                progress(done, total, what)
    atomic_write_text(csv_path, "".join(f"{c.path} {c.label_id}\n" for c in clips))
    atomic_write_text(map_path, json.dumps(label_map, indent=2, ensure_ascii=False) + "\n")
    return ExportReport(out, csv_path, map_path, label_map, tuple(clips), tuple(skipped))


def _unusable(session: Session) -> str | None:
    """Why `session` can give no clips at all, or None when it can."""
    info = session.info
    if info.unfinished:
        return "unfinished: run `slowfast sessions repair` first"
    bad = [p for p in session.problems if p.file == VIDEO_FILE]
    if bad:
        return str(bad[0])
    if {"fps", "width", "height"} & info.invalid:
        size = [p for p in session.problems if p.file == SESSION_JSON]
        return str(size[0]) if size else "session.json has no usable fps or frame size"
    if not session.labels:
        return "no labeled segments"
    if session.video_path is None:
        return "the session has no video"
    return None


def _cut_session(session: Session, out: Path, *, min_frames: int):
    """Yield (k, segment, (relative path, frames) | reason skipped) for each labeled segment of `session`,
    reading the session video once, front to back."""
    segments = sorted(session.labels, key=lambda s: (s.start, s.end))
    if session.video_path is None:
        for k, seg in enumerate(segments):
            yield k, seg, f"{session.path.name}: {seg.label} {seg.start:.2f}-{seg.end:.2f} s: the session has no video"
        return
    info = session.info
    cap = cv2.VideoCapture(str(session.video_path))
    if not cap.isOpened():
        for k, seg in enumerate(segments):
            yield k, seg, f"{session.path.name}: {seg.label} {seg.start:.2f}-{seg.end:.2f} s: the video does not open"
        return
    pos = 0  # the frame number the next read returns
    try:
        for k, seg in enumerate(segments):
            numbers = session.frames.frames_between(seg.start, seg.end)
            if len(numbers) < max(1, min_frames):
                yield k, seg, (f"{session.path.name}: {seg.label} {seg.start:.2f}-{seg.end:.2f} s: "
                               f"{len(numbers)} frames in the video (fewer than {max(1, min_frames)})")
                continue
            first, last = int(numbers[0]), int(numbers[-1])
            if first < pos:  # overlaps the previous segment: read again from the start
                cap.release()
                cap = cv2.VideoCapture(str(session.video_path))
                pos = 0
            while pos < first and cap.grab():
                pos += 1
            rel = f"{CLIPS_DIR}/{slugify(seg.label)}/{slugify(session.path.name, max_len=80)}_{k:03d}.mp4"
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            writer = open_writer(target, fps=info.fps, width=info.width, height=info.height)
            frames = 0
            try:
                while pos <= last:
                    ok, frame = cap.read()  # (H, W, 3) BGR
                    if not ok:
                        break
                    pos += 1
                    writer.write(frame)
                    frames += 1
            finally:
                writer.release()
            if frames < max(1, min_frames):
                target.unlink(missing_ok=True)
                yield k, seg, (f"{session.path.name}: {seg.label} {seg.start:.2f}-{seg.end:.2f} s: the video "
                               "ended early (repair the session)")
                continue
            yield k, seg, (rel, frames)
    finally:
        cap.release()


__all__ = ["ExportProgress", "ExportReport", "ExportedClip", "build_label_map", "export_dataset"]
