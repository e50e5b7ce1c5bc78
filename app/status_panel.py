"""The status bar's live figures: source, resolution, capture fps, model, device, backend, latencies, drops.

`status_fields(state)` computes the texts (tested directly); `StatusPanel` shows them in three sections
that elide instead of overflowing when the window is narrow.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from app.state import LiveState


def _short_source(name: str) -> str:
    """'file:/long/path/clip.mp4' -> 'clip.mp4'; other source names unchanged."""
    if name.startswith("file:"):
        return Path(name[len("file:"):]).name
    return name


def detecting(state: LiveState) -> bool:
    """The newest window went the per-person way (its people are shown, the classifier did not run)."""
    return state.prediction is not None and state.prediction.people is not None


def people_text(state: LiveState) -> str:
    """'3 people in view · detector 4 ms' while detecting (the newest window's), '' otherwise."""
    p = state.prediction
    if p is None or p.people is None:
        return ""
    n = len(p.people)
    text = "no person in view" if n == 0 else f"{n} {'person' if n == 1 else 'people'} in view"
    return text if p.detector_ms is None else f"{text} · detector {p.detector_ms:.0f} ms"


def people_backend(state: LiveState) -> str:
    """While detecting, what runs the per-person model ('RoI head (torch)', from the newest window's own
    backend, whose detector the model label names already): not the idle classifier's backend. '' otherwise."""
    if not detecting(state):
        return ""
    return state.prediction.backend.rpartition(" + ")[2]


def status_fields(state: LiveState) -> dict[str, str]:
    """Every status figure as display text; '–' where not known yet."""
    s = state.status
    dash = "–"
    out = {
        "source": _short_source(s.source if s is not None and s.source else state.source_label) or dash,
        "resolution": f"{s.width}×{s.height}" if s is not None and s.width else dash,
        "fps": f"{s.capture_fps:.1f} fps" if s is not None else dash,
        "state": s.state if s is not None else dash,
        "model": state.detection if detecting(state) and state.detection else state.model.title,
        "device": (s.device if s is not None and s.device else dash),
        "backend": people_backend(state) or (s.backend if s is not None and s.backend else
                                             (state.prediction.backend if state.prediction else "")) or dash,
        "inference": f"{s.inference_ms_p50:.0f} ms" if s is not None and s.inference_ms_p50 is not None else dash,
        "end_to_end": f"{s.end_to_end_ms_p50:.0f} ms" if s is not None and s.end_to_end_ms_p50 is not None else dash,
        "dropped": str(s.windows_dropped) if s is not None else dash,
        "people": people_text(state),
    }
    return out


def source_text(f: dict[str, str]) -> str:
    """'synthetic 640x480@30 · 29.9 fps', 'clip.mp4 · 340×256 · 29.7 fps': the resolution only when the source's
    name does not say it already (the status bar is narrow: the window's default width shows it whole)."""
    size = f["resolution"].replace("×", "x")
    parts = [f["source"]] + ([] if size in f["source"] else [f["resolution"]]) + [f["fps"]]
    return " · ".join(parts)


def model_text(f: dict[str, str]) -> str:
    """'slowfast_8x8_r50 · untrained · openvino': the device only when the backend's name does not imply it
    (openvino and torch-cpu run on the CPU, torch-cuda on a GPU); everything in the tooltip."""
    backend = f["backend"]
    implied = backend.startswith(("openvino", "torch-cpu", "torch-cuda")) or f["device"] in ("–", "cpu")
    return " · ".join([f["model"], backend] if implied else [f["model"], f["device"], backend])


class ElidedLabel(QLabel):
    """A one-line label that takes the width of its text when there is room and elides it (full text in the
    tooltip) instead of widening the window when there is not."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        text = QFontMetrics(self.font()).elidedText(self.text(), Qt.TextElideMode.ElideMiddle, self.width())
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.rect(), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
        p.end()


class StatusPanel(QWidget):
    """Three sections: source (what is shown), model (what runs where), timing (how fast, how much dropped)."""

    def __init__(self, state: LiveState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(14)
        self.source = ElidedLabel()
        self.model = ElidedLabel()
        self.timing = QLabel()
        self.timing.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        row.addWidget(self.source)  # each takes its text's width while there is room (no stretch factors:
        row.addWidget(self.model)  # those split the width evenly and elided a long model name beside room)
        row.addWidget(self.timing)
        row.addStretch(1)
        for signal in (state.statusChanged, state.modelChanged, state.sourceChanged, state.predictionChanged):
            signal.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the state."""
        f = status_fields(self.state)
        self.source.setText(source_text(f))
        self.source.setToolTip(f"source {f['source']} ({f['state']}), {f['resolution']}, capture {f['fps']}")
        self.model.setText(model_text(f))
        self.model.setToolTip(f"model {f['model']} on {f['device']}, backend {f['backend']}")
        people = f"{f['people']} · " if f["people"] else ""
        self.timing.setText(
            f"{people}inference {f['inference']} · end-to-end {f['end_to_end']} · dropped {f['dropped']}")
        self.timing.setToolTip("median inference time, median capture-to-prediction latency, "
                               "windows dropped because the model was busy")
        self.source.update()
        self.model.update()
