"""Recording labeled sessions, reading them back, repairing crashed ones, exporting them as a dataset.

Qt-free. The GUI (or the headless runner) starts a `SessionRecorder`, feeds it the engine's frames and
predictions and the person's label marks, and stops it; `list_sessions`/`load_session` read sessions
back, `find_unfinished`/`repair_session` salvage crashed ones at the next start, `export_dataset` writes
a PySlowFast/PyTorchVideo clips dataset and `agreement` compares marked labels with predictions.
"""

from __future__ import annotations

from slowfast_core.sessions.agreement import Agreement, LabelAgreement, agreement, predicted_segments
from slowfast_core.sessions.export import ExportedClip, ExportReport, export_dataset
from slowfast_core.sessions.layout import LabeledSegment, Problem, SessionError, SessionInfo
from slowfast_core.sessions.recorder import SessionRecorder
from slowfast_core.sessions.repair import RepairReport, repair_session
from slowfast_core.sessions.store import (
    FrameTable,
    PredictionRecord,
    Session,
    delete_session,
    find_unfinished,
    list_sessions,
    load_session,
    rename_session,
    resolve_session,
)
from slowfast_core.userdirs import default_root

__all__ = [
    "Agreement", "ExportReport", "ExportedClip", "FrameTable", "LabelAgreement", "LabeledSegment",
    "PredictionRecord", "Problem", "RepairReport", "Session", "SessionError", "SessionInfo", "SessionRecorder",
    "agreement", "default_root", "delete_session", "export_dataset", "find_unfinished", "list_sessions",
    "load_session", "predicted_segments", "rename_session", "repair_session", "resolve_session",
]
