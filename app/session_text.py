"""What the Sessions window shows about a session, as plain functions: its list line, its timelines' bands,
how well the predictions agree with the marked labels, whether Repair can help, and what the replay area says
when there is no video. Kept apart from the window (app.sessions_view) so each can be read and tested alone.
"""

from __future__ import annotations

from PySide6.QtWidgets import QListWidgetItem

from app.timeline import Band
from slowfast_core.segments import action_segments
from slowfast_core.sessions import Session, agreement
from slowfast_core.sessions.layout import SessionInfo
from slowfast_core.sessions.folder import process_alive


def label_bands(session: Session) -> list[Band]:
    """The labeled segments as bands (seconds since the session start)."""
    return [Band(s.start, s.end, s.label, 1.0) for s in session.labels]


def prediction_bands_from_records(session: Session) -> list[Band]:
    """The recorded predictions as the action segments `slowfast predict --segments` gives (one placement in
    time for the timeline, the agreement and predict: `slowfast_core.segments`), one band per segment."""
    return [Band(s.start, s.end, s.label, s.confidence) for s in action_segments(session.predictions)]


def agreement_text(session: Session) -> str:
    """How well predictions match the marked labels, overall and per label, as display text."""
    if not session.labels:
        return "Agreement: no labeled segments in this session"
    if not session.predictions:
        return "Agreement: no predictions were recorded"
    result = agreement(session.labels, session.predictions)
    if result.fraction is None:
        return "Agreement: no labeled time"
    parts = [
        f"{a.label} {a.fraction * 100:.0f}%" for a in result.per_label.values() if a.fraction is not None
    ]
    return (f"Agreement: {result.fraction * 100:.0f}% of {result.labeled_seconds:.1f} s labeled time "
            f"predicted as marked — " + ", ".join(parts))


def describe(info: SessionInfo) -> str:
    """One list line: name, state (and "damaged" with the first problem), start time, length."""
    state = "" if info.state == "finished" else f" [{info.state}]"
    if info.damaged:
        state += " [damaged]"
    start = info.start_time.replace("T", " ")[:16]
    text = f"{info.name}{state}\n{start} · {info.duration:.0f} s · {info.frames} frames"
    if info.problems:
        text += f"\n{info.problems[0].file}: {info.problems[0].what}"
    return text


def show_info(item: QListWidgetItem, info: SessionInfo) -> None:
    """Put `info` into a list item: its line, and a tooltip with the folder and every problem."""
    item.setText(describe(info))
    item.setToolTip("\n".join([str(info.path), *(str(p) for p in info.problems)]))


def can_repair(info: SessionInfo) -> bool:
    """True when repair can do something: an unfinished session nobody records any more, or a problem it fixes."""
    if info.unfinished:
        return not process_alive(info.pid, info.pid_started)
    return any(p.repair for p in info.problems)


def no_video_text(info: SessionInfo) -> str:
    """What the replay area says when a session has no video to show, true to the session's state."""
    if info.unfinished:
        if process_alive(info.pid, info.pid_started):
            return "this session is being recorded right now: its video is still in segments"
        return "this session is unfinished (left by a crash): press Repair, or it is repaired at the next start"
    video = [p for p in info.problems if p.file == "video.mp4"]
    if video:
        fix = "press Repair to rebuild it" if video[0].repair else "it cannot be restored"
        return f"video.mp4 {video[0].what.split(':')[0]}: {fix}; the labels and predictions are shown below"
    return "this session has no video (no frame was recorded)"
