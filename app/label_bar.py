"""The row under the video while recording: one button per label ("1 wave", "2 clap", …) and a Stop button.

It follows the `LiveState` (the active label is shown checked) and emits `labelClicked(index)`; the window
does the marking, so keys and buttons take exactly the same path.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from app import palette
from app.state import LiveState


class LabelBar(QWidget):
    """Label buttons for the recording in progress; hidden while not recording."""

    labelClicked = Signal(int)  # index into the label list
    endClicked = Signal()
    stopClicked = Signal()

    def __init__(self, state: LiveState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.labels: list[str] = []
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(6, 4, 6, 4)
        self._row.setSpacing(6)
        self.hint = QLabel("Mark:")
        self._row.addWidget(self.hint)
        self.buttons: list[QPushButton] = []
        self._row.addStretch(1)
        self.end_button = QPushButton("End label (Space)")
        self.stop_button = QPushButton("■ Stop recording (R)")
        for b in (self.end_button, self.stop_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self._row.addWidget(b)
        self.end_button.clicked.connect(self.endClicked)
        self.stop_button.clicked.connect(self.stopClicked)
        state.recordingChanged.connect(self.refresh)
        self.setVisible(False)

    def set_labels(self, labels: list[str]) -> None:
        """Rebuild the buttons for a label set (at most nine: keys 1–9)."""
        for b in self.buttons:
            self._row.removeWidget(b)
            b.deleteLater()
        self.buttons = []
        self.labels = list(labels[:9])
        for i, label in enumerate(self.labels):
            b = QPushButton(f"{i + 1}  {label}")
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and digits stay window shortcuts
            b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            b.setToolTip(f"key {i + 1}: start '{label}'; press again or Space to end it")
            color = palette.class_color(label).name()
            b.setStyleSheet(f"QPushButton:checked {{ background:{color}; color:white; font-weight:bold; }}")
            b.clicked.connect(lambda _checked=False, k=i: self.labelClicked.emit(k))
            self._row.insertWidget(1 + i, b)
            self.buttons.append(b)
        self.refresh()

    def refresh(self) -> None:
        """Follow the state: visible while recording, the active label's button checked."""
        recording = self.state.recording_name is not None
        self.setVisible(recording)
        for label, b in zip(self.labels, self.buttons):
            b.setChecked(recording and label == self.state.active_label)
        self.end_button.setEnabled(recording and self.state.active_label is not None)
