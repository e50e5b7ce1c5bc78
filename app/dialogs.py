"""Small dialogs: start a recording (name + editable label list), settings, weights download, long work.

Each dialog edits plain values (`AppSettings`, a list of labels) and never touches the engine itself; the
window applies what they return.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.detection import same_detector
from app.settings import BACKENDS, DEVICES, INPUT_SIZES, AppSettings
from slowfast_core.progress import format_bytes
from slowfast_core.stream.quality import LiveTarget

MAX_LABELS = 9  # number keys 1-9


class RecordDialog(QDialog):
    """Asks for the session's name and its label set (one per line, editable, at most nine: keys 1–9)."""

    def __init__(self, labels: list[str], parent: QWidget | None = None, *, name: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record a labeled session")
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name_edit = QLineEdit(name or f"session {datetime.now():%Y-%m-%d %H:%M}")
        self.name_edit.selectAll()
        form.addRow("Session name:", self.name_edit)
        layout.addLayout(form)
        layout.addWidget(QLabel("Labels (keys 1–9 start them; the same key or Space ends them):"))
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        for label in labels[:MAX_LABELS]:
            self._add_item(label)
        layout.addWidget(self.list)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.add_button.clicked.connect(self._add_new)
        self.remove_button.clicked.connect(self._remove_selected)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color:#e0403a;")
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.button(QDialogButtonBox.StandardButton.Ok).setText("Start recording")
        box.accepted.connect(self._accept)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self._renumber()
        self.list.model().rowsMoved.connect(self._renumber)

    def _add_item(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self.list.addItem(item)

    def _add_new(self) -> None:
        if self.list.count() >= MAX_LABELS:
            self.error_label.setText(f"at most {MAX_LABELS} labels (keys 1–9)")
            return
        self._add_item(f"label {self.list.count() + 1}")
        item = self.list.item(self.list.count() - 1)
        self.list.setCurrentItem(item)
        self.list.editItem(item)

    def _remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._renumber()

    def _renumber(self, *args: object) -> None:
        for i in range(self.list.count()):
            self.list.item(i).setToolTip(f"key {i + 1}")

    def labels(self) -> list[str]:
        """The label set as edited, in order (blank lines dropped)."""
        return [t for t in (self.list.item(i).text().strip() for i in range(self.list.count())) if t]

    def name(self) -> str:
        """The session name as typed."""
        return self.name_edit.text().strip()

    def problem(self) -> str | None:
        """Why the input cannot be used (one line), or None."""
        labels = self.labels()
        if not self.name():
            return "give the session a name"
        if not labels:
            return "add at least one label"
        if len(labels) > MAX_LABELS:
            return f"at most {MAX_LABELS} labels (keys 1–9)"
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            return f"label {dupes[0]!r} appears twice: each label must be unique"
        return None

    def _accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error_label.setText(problem)
            return
        self.accept()


class SettingsDialog(QDialog):
    """Device, input size, stride, top-k, threshold and smoothing; `result_settings()` gives the edited copy.

    Detection (who is doing what) and its person detector: `detection` is the window's state (on, detector
    name or None for the default), `detectors` the (name, text) choices the Model menu offers
    (`app.detection.person_detector_choices`); `result_detection()` gives the edited pair, which the window
    applies as its View toggle and Model menu do (they are not plain settings: turning it on can fail, or
    need a download, and is remembered only once the engine runs it).
    """

    def __init__(self, settings: AppSettings, parent: QWidget | None = None, *, cuda_available: bool = False,
                 detection: tuple[bool, str | None] = (False, None),
                 detectors: Sequence[tuple[str | None, str]] = ((None, "Default for this device"),)) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        form = QFormLayout(self)
        self.device = QComboBox()
        for d in DEVICES:
            text = {"auto": "Automatic (CUDA when present)", "cpu": "CPU", "cuda": "CUDA GPU"}[d]
            self.device.addItem(text, d)
        self.device.setCurrentIndex(max(0, DEVICES.index(settings.device) if settings.device in DEVICES else 0))
        if not cuda_available:
            self.device.model().item(DEVICES.index("cuda")).setEnabled(False)
            self.device.setToolTip("no CUDA GPU was found on this machine")
        form.addRow("Device:", self.device)
        self.backend = QComboBox()
        for b in BACKENDS:
            self.backend.addItem("Automatic (fastest here)" if b == "auto" else b, b)
        self.backend.setCurrentIndex(max(0, BACKENDS.index(settings.backend) if settings.backend in BACKENDS else 0))
        self.backend.setToolTip("how the model runs; a backend that cannot run here reports an error")
        form.addRow("Backend:", self.backend)
        self.input_size = QComboBox()
        for size in INPUT_SIZES:
            self.input_size.addItem("Auto (the largest that keeps up)" if size == 0 else f"{size} px short side", size)
        if settings.input_size in INPUT_SIZES:
            self.input_size.setCurrentIndex(INPUT_SIZES.index(settings.input_size))
        self.input_size.setToolTip(auto_size_tip())
        form.addRow("Input size:", self.input_size)
        self.stride = QDoubleSpinBox()
        self.stride.setRange(0.1, 5.0)
        self.stride.setSingleStep(0.1)
        self.stride.setDecimals(2)
        self.stride.setSuffix(" s")
        self.stride.setValue(settings.stride_s)
        self.stride.setToolTip("time between two predictions")
        form.addRow("Stride:", self.stride)
        self.topk = QSpinBox()
        self.topk.setRange(1, 10)
        self.topk.setValue(settings.topk)
        form.addRow("Top-k shown:", self.topk)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(settings.threshold)
        self.threshold.setToolTip("below this probability the overlay says 'no confident action'")
        form.addRow("Threshold:", self.threshold)
        self.smoothing = QSpinBox()
        self.smoothing.setRange(1, 30)
        self.smoothing.setValue(settings.smoothing)
        self.smoothing.setSuffix(" windows")
        self.smoothing.setToolTip("average the probabilities of this many windows before naming an action")
        form.addRow("Smoothing:", self.smoothing)
        self.detect = QCheckBox("Detection (a box per person)")
        self.detect.setChecked(detection[0])
        self.detect.setToolTip("box each person and name what each one does, instead of one action for the "
                               "whole frame (View → Detection: who is doing what)")
        form.addRow("Who is doing what:", self.detect)
        self.detector = QComboBox()
        for name, text in detectors:
            self.detector.addItem(text, name)
        current = [i for i, (name, _text) in enumerate(detectors) if same_detector(name, detection[1])]
        self.detector.setCurrentIndex(current[0] if current else 0)
        self.detector.setToolTip("what finds the people (Model → Person detector); one not downloaded yet is "
                                 "downloaded when the dialog is accepted")
        self.detector.setEnabled(self.detect.isChecked())
        self.detect.toggled.connect(self.detector.setEnabled)
        form.addRow("Person detector:", self.detector)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def result_settings(self) -> AppSettings:
        """The settings with the dialog's values."""
        return dataclasses.replace(
            self._settings,
            device=str(self.device.currentData()),
            backend=str(self.backend.currentData()),
            input_size=int(self.input_size.currentData()),
            stride_s=round(float(self.stride.value()), 3),
            topk=int(self.topk.value()),
            threshold=round(float(self.threshold.value()), 3),
            smoothing=int(self.smoothing.value()),
        )

    def result_detection(self) -> tuple[bool, str | None]:
        """Detection on or off, and the person detector picked (None: the default for the device)."""
        return self.detect.isChecked(), self.detector.currentData()


def auto_size_tip() -> str:
    """The input size's tooltip: what Auto keeps, from its target's own numbers (`LiveTarget`)."""
    target = LiveTarget()
    return ("smaller inputs run faster and are less accurate; Auto measures this machine once per model and keeps "
            f"the largest that stays live: at least {target.updates_per_s:g} updates a second and none more than "
            f"{target.delay_ms:.0f} ms behind the video")


class DownloadDialog(QDialog):
    """Downloads named weights with `slowfast weights download NAME` in a child process, with cancel.

    A child process can be cancelled at once (the GUI never waits on a socket read); progress is the size
    of the partial file the download writes next to the cache file.
    """

    def __init__(self, name: str, dest: Path, python: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Downloading {name}")
        self.setMinimumWidth(440)
        self.weights_name, self.dest = name, dest
        self.error: str | None = None
        layout = QVBoxLayout(self)
        self.text = QLabel(f"Downloading {name}\ninto {dest}")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # size unknown until the server says
        layout.addWidget(self.bar)
        self.amount = QLabel("starting…")
        layout.addWidget(self.amount)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        box.rejected.connect(self.cancel)
        layout.addWidget(box)
        self.process = QProcess(self)
        self.process.setProgram(python)
        self.process.setArguments(["-m", "slowfast_core.cli", "weights", "download", name, "--no-progress"])
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._process_error)
        self._poll = QTimer(self)
        self._poll.setInterval(300)
        self._poll.timeout.connect(self._update_amount)

    def start(self) -> None:
        """Start the child process and show the dialog (non-modal to the event loop)."""
        self.process.start()
        self._poll.start()

    def _partial_files(self) -> list[Path]:
        return list(self.dest.parent.glob(f".{self.dest.name}.*.part")) if self.dest.parent.is_dir() else []

    def _update_amount(self) -> None:
        size = sum(p.stat().st_size for p in self._partial_files() if p.is_file())
        self.amount.setText(f"{format_bytes(size)} received" if size else "connecting…")

    def cancel(self) -> None:
        """Stop the download and remove its partial file."""
        self._poll.stop()
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.finished.disconnect(self._finished)
            self.process.kill()
            self.process.waitForFinished(1000)
        for part in self._partial_files():
            part.unlink(missing_ok=True)
        self.error = "download cancelled"
        self.reject()

    def _process_error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self._poll.stop()
            self.error = f"could not start the download ({self.process.errorString()})"
            self.reject()

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._poll.stop()
        if code == 0 and self.dest.is_file():
            self.accept()
            return
        stderr = bytes(self.process.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
        lines = [ln for ln in stderr if ln.strip()]
        self.error = lines[-1] if lines else f"the download of {self.weights_name} failed (exit code {code})"
        for prefix in ("slowfast: ", "error: "):
            if self.error.startswith(prefix):
                self.error = self.error[len(prefix):]
        self.reject()


class ProgressDialog(QDialog):
    """A progress bar for background work (export, finishing a recording); Cancel asks the task to stop."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None, *, cancellable: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(400)
        layout = QVBoxLayout(self)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        layout.addWidget(self.bar)
        self.detail = QLabel("")
        layout.addWidget(self.detail)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.setEnabled(cancellable)
        layout.addWidget(self.buttons)

    def set_progress(self, fraction: float, text: str = "") -> None:
        """fraction < 0: unknown (busy indicator)."""
        if fraction < 0:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(round(min(1.0, fraction) * 1000)))
        if text:
            self.detail.setText(text)
