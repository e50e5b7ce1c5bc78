"""A recorded session as an annotated video: its video with the predictions and the marked labels drawn on it.

Each frame shows the overlay a live viewer saw at that moment of the recording (the newest prediction whose
window had ended, `slowfast_core.annotate`), and the label the person was marking then, in the live
window's recording style (a coloured box at the bottom centre). Times come from frames.csv, so the drawing
follows the recording's own clock even where frames were dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.annotate import FrameAnnotator, fit_frame
from slowfast_core.overlay.content import Marking, ShownPrediction
from slowfast_core.sessions.layout import LabeledSegment, SessionError
from slowfast_core.sessions.store import Session, load_session
from slowfast_core.stream.settings import EngineSettings
from slowfast_core.video.encode import VideoFileWriter, check_output_path

#: progress(frames done, frames in all); may raise to cancel (the partial file is deleted).
AnnotateProgress = Callable[[int, int], None]
PROGRESS_EVERY = 10  # frames between progress calls


@dataclass(frozen=True)
class AnnotatedVideo:
    """What `export_annotated_video` wrote."""

    path: Path
    frames: int
    fps: float
    width: int
    height: int
    encoder: str


class _MarkedLabels:
    """The label marked at time t (segments in start order, asked in time order)."""

    def __init__(self, segments: tuple[LabeledSegment, ...]) -> None:
        self.segments = sorted(segments, key=lambda s: (s.start, s.end))
        self._next = 0

    def at(self, t: float) -> str | None:
        while self._next < len(self.segments) and self.segments[self._next].end <= t:
            self._next += 1
        for seg in self.segments[self._next:]:
            if seg.start > t:
                break
            if seg.start <= t < seg.end:
                return seg.label
        return None


def _stride(session: Session) -> float:
    """Seconds between recorded predictions (their median gap), for the overlay's staleness rule."""
    ends = np.sort(np.array([p.end for p in session.predictions], dtype=np.float64))
    gaps = np.diff(ends)
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if len(gaps) else EngineSettings().stride_s


def export_annotated_video(
    session: Session | str | os.PathLike[str], out: str | os.PathLike[str], *,
    progress: AnnotateProgress | None = None,
) -> AnnotatedVideo:
    """Write `session`'s video with its predictions and marked labels drawn on every frame to `out`.

    The file keeps the session video's resolution and frame rate; it is written under a temporary name and
    renamed when complete (`VideoFileWriter`). SessionError when the session has no video yet; an exception
    from `progress` (a cancel) deletes the partial file and propagates.
    """
    if not isinstance(session, Session):
        session = load_session(session)
    if session.video_path is None:
        raise SessionError(f"session {session.path} has no video yet (unfinished: it is repaired at the next "
                           "start of the program, or with `slowfast sessions repair`)")
    target = check_output_path(out, source=session.video_path)
    info = session.info
    predictions = sorted(session.predictions, key=lambda p: p.end)
    topk = max([len(p.topk) for p in predictions], default=EngineSettings().topk)
    annotator = FrameAnnotator(untrained=bool(info.model) and not info.weights, topk=topk,
                               threshold=EngineSettings().threshold, stride_s=_stride(session))
    for p in predictions:
        annotator.timeline.add(ShownPrediction(p.topk, p.label, p.confidence, p.start, p.last_instant,
                                                    padded=bool(p.padded)))
    marked = _MarkedLabels(session.labels)
    times = session.frames.time  # (N,) seconds since the session start, row k = video frame k
    total = max(len(times), info.frames)
    cap = cv2.VideoCapture(str(session.video_path))
    try:
        ok, bgr = cap.read()
        if not ok or bgr is None:
            raise SessionError(f"cannot read the session video {session.video_path}: the file is damaged; try "
                               "`slowfast sessions repair`")
        height, width = bgr.shape[:2]
        fps = info.fps if info.fps > 0 else float(cap.get(cv2.CAP_PROP_FPS) or 30.0)
        with VideoFileWriter(target, fps=fps, width=width, height=height) as writer:
            n = 0
            while ok and bgr is not None:
                t = float(times[n]) if n < len(times) else n / fps
                label = marked.at(t)
                frame = fit_frame(bgr, width, height)
                annotator.draw(frame, t, marking=Marking(label=label) if label else None)
                writer.write(frame)
                n += 1
                if progress is not None and (n % PROGRESS_EVERY == 0 or n == total):
                    progress(n, max(total, n))
                ok, bgr = cap.read()
            encoder = writer.encoder
    finally:
        cap.release()
    if progress is not None:
        progress(n, n)
    return AnnotatedVideo(path=target, frames=n, fps=fps, width=width, height=height, encoder=encoder)
