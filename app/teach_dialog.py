"""Record -> Teach…: teach a classifier for the actions in recorded sessions, see it learn, save it, use it.

`TeachJob` (app.teach_job, the controller) runs the teaching child process and turns its JSON lines into
signals. `TeachDialog` is the view: sessions (every session with labels checked), examples per label, the `no action`
background, the base model, Train / Cancel, live loss and accuracy curves (QtCharts), then the confusion
matrix with per-label accuracy on held-out segments, **Save as…** (My models) and **Use now** (the running
model's classifier is swapped; the backbone and the video go on).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.teach_job import TeachJob, session_rows
from slowfast_core.errors import SlowFastError

logger = logging.getLogger(__name__)

#: shown in place of the confusion matrix when no segment could be held out to test the taught model
UNTESTED = ("Nothing was held out to test on, so there is no confusion matrix: record each action twice or "
            "for longer, and one part of each is kept aside to test the taught model.")
#: the loss axis spans at least this much, so a loss that falls to ~0 still gets readable ticks
LOSS_AXIS_MIN = 0.05


def _chart(title: str, names: list[str], y_max: float | None) -> tuple[QChartView, list[QLineSeries], QValueAxis]:
    chart = QChart()
    chart.setTitle(title)
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    x_axis, y_axis = QValueAxis(), QValueAxis()
    x_axis.setTitleText("optimiser steps (x10) or epochs")
    x_axis.setLabelFormat("%.0f")
    y_axis.setLabelFormat("%.2f")  # a loss near zero reads 0.00, not 0.00000142
    chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
    series = []
    for name in names:
        s = QLineSeries()
        s.setName(name)
        chart.addSeries(s)
        s.attachAxis(x_axis)
        s.attachAxis(y_axis)
        series.append(s)
    if y_max is not None:
        y_axis.setRange(0.0, y_max)
    view = QChartView(chart)
    view.setRenderHint(QPainter.RenderHint.Antialiasing)
    view.setMinimumSize(300, 230)
    return view, series, y_axis


class TeachDialog(QDialog):
    """The Teach window (see the module doc). `saved(path)` after Save as…, `useModel(path)` for Use now."""

    saved = Signal(object)
    useModel = Signal(object)

    def __init__(self, sessions_root: Path, *, base: str | None, size: int = 0, models_folder: Path | None = None,
                 parent: QWidget | None = None, python: str = sys.executable) -> None:
        super().__init__(parent)
        self.setWindowTitle("Teach it your actions")
        self.setMinimumSize(760, 620)
        self.sessions_root, self.base, self.size = sessions_root, base, size
        self.models_folder = models_folder
        self.result: dict[str, Any] | None = None
        self.saved_path: Path | None = None
        self.error: str | None = None
        self.job = TeachJob(self, python=python)
        self.job.planned.connect(self._on_plan)
        self.job.progress.connect(self._on_progress)
        self.job.metrics.connect(self._on_metrics)
        self.job.succeeded.connect(self._on_result)
        self.job.failed.connect(self._on_failed)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("Sessions (those with labels are checked):"))
        self.sessions = QListWidget()
        self.sessions.itemChanged.connect(self._update_counts)
        left.addWidget(self.sessions)
        top.addLayout(left, 3)
        right = QVBoxLayout()
        right.addWidget(QLabel("Examples per label:"))
        self.counts = QTableWidget(0, 3)
        self.counts.setHorizontalHeaderLabels(["label", "segments", "seconds"])
        self.counts.verticalHeader().setVisible(False)
        right.addWidget(self.counts)
        self.background = QCheckBox("Add “no action” from the time between labels")
        self.background.setChecked(True)
        right.addWidget(self.background)
        self.last = QCheckBox("Advanced: also retrain the last block (res5 + head; minutes, not seconds)")
        right.addWidget(self.last)
        self.base_label = QLabel(f"Base model: {base or 'the one the sessions were recorded with'}")
        self.base_label.setWordWrap(True)
        right.addWidget(self.base_label)
        top.addLayout(right, 2)
        layout.addLayout(top)

        buttons = QHBoxLayout()
        self.train_button = QPushButton("&Train")
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        buttons.addWidget(self.bar, 1)
        layout.addLayout(buttons)
        self.status = QLabel("Choose sessions and press Train.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        charts = QHBoxLayout()
        self.loss_view, self.loss_series, self.loss_axis = _chart("Loss", ["train", "held-out"], None)
        self.acc_view, self.acc_series, _ = _chart("Accuracy", ["train", "held-out"], 1.0)
        charts.addWidget(self.loss_view)
        charts.addWidget(self.acc_view)
        layout.addLayout(charts, 1)
        self.confusion = QTableWidget(0, 0)
        self.confusion.setToolTip("Held-out windows: rows are the marked label, columns what the taught model said")
        self.confusion.setMaximumHeight(170)
        layout.addWidget(self.confusion)
        self.untested = QLabel(UNTESTED)
        self.untested.setWordWrap(True)
        self.untested.setVisible(False)
        layout.addWidget(self.untested)

        box = QDialogButtonBox()
        self.save_button = box.addButton("&Save as…", QDialogButtonBox.ButtonRole.ActionRole)
        self.use_button = box.addButton("&Use now", QDialogButtonBox.ButtonRole.ActionRole)
        close = box.addButton(QDialogButtonBox.StandardButton.Close)
        self.save_button.clicked.connect(self.save_dialog)
        self.use_button.clicked.connect(self.use_now)
        close.clicked.connect(self.close)
        self.save_button.setEnabled(False)
        self.use_button.setEnabled(False)
        layout.addWidget(box)
        self.reload_sessions()
        self.job.prewarm()  # torch imports while the person looks at the sessions

    # --------------------------------------------------------------------------------------------- sessions
    def reload_sessions(self) -> None:
        self.sessions.blockSignals(True)
        self.sessions.clear()
        for folder, name, per in session_rows(self.sessions_root):
            text = f"{name} — " + (", ".join(f"{k} ×{n}" for k, (n, _) in per.items()) or "no labels")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, (str(folder), per))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if per else Qt.CheckState.Unchecked)
            self.sessions.addItem(item)
        self.sessions.blockSignals(False)
        self._update_counts()

    def chosen(self) -> list[Path]:
        """The checked sessions' folders."""
        out = []
        for i in range(self.sessions.count()):
            item = self.sessions.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(Path(item.data(Qt.ItemDataRole.UserRole)[0]))
        return out

    def _update_counts(self, *args: object) -> None:
        total: dict[str, list[float]] = {}
        for i in range(self.sessions.count()):
            item = self.sessions.item(i)
            if item.checkState() != Qt.CheckState.Checked:
                continue
            for label, (n, secs) in item.data(Qt.ItemDataRole.UserRole)[1].items():
                t = total.setdefault(label, [0, 0.0])
                t[0] += n
                t[1] += secs
        self.counts.setRowCount(len(total))
        for row, (label, (n, secs)) in enumerate(total.items()):
            for col, value in enumerate((label, str(int(n)), f"{secs:.1f}")):
                self.counts.setItem(row, col, QTableWidgetItem(value))
        self.train_button.setEnabled(bool(self.chosen()) and not self.job.running)

    # --------------------------------------------------------------------------------------------- training
    def train(self) -> None:
        """Start teaching the chosen sessions in the child process."""
        sessions = self.chosen()
        if not sessions:
            self._on_failed("no sessions chosen: record a session and mark actions with the label keys (1-9)")
            return
        self.result, self.error, self.saved_path = None, None, None
        for s in (*self.loss_series, *self.acc_series):
            s.clear()
        self.confusion.setRowCount(0)
        self.confusion.setColumnCount(0)
        self.confusion.setVisible(True)
        self.untested.setVisible(False)
        self.save_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)
        self._set_status("Starting…")
        self.job.start(sessions, base=self.base, background=self.background.isChecked(),
                       mode="last" if self.last.isChecked() else "head", size=self.size)

    def cancel(self) -> None:
        """Stop a running teach; nothing is saved or changed."""
        if self.job.running:
            self.job.cancel()
            self._finish_run()
            self._set_status("Cancelled: nothing was changed.")

    def _finish_run(self) -> None:
        self.job.prewarm()  # the next Train starts warm too
        self.cancel_button.setEnabled(False)
        self.train_button.setEnabled(bool(self.chosen()))
        self.bar.setRange(0, 1000)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b; font-weight: bold;" if error else "")

    def _on_plan(self, plan: dict) -> None:
        counts = ", ".join(f"{k}: {v}" for k, v in plan["counts"].items())
        source = (f"{plan['recorded']} recorded features" if not plan["to_compute"] else
                  f"{plan['recorded']} recorded features, {plan['to_compute']} to compute from video")
        notes = "".join(f"\n• {n}" for n in plan.get("notes") or [])
        self._set_status(f"Training on {counts} examples ({source}); base {plan['base']}.{notes}")

    def _on_progress(self, event: dict) -> None:
        total = max(1, int(event.get("total") or 1))
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(1000 * int(event.get("done") or 0) / total))
        eta = event.get("eta_s")
        self.bar.setFormat(f"{event.get('what', '')} %p%" + (f" · {eta:.0f} s left" if eta else ""))

    def _on_metrics(self, rec: dict) -> None:
        x = float(rec.get("epoch") or 0)
        for series, key in ((self.loss_series[0], "train_loss"), (self.loss_series[1], "val_loss"),
                            (self.acc_series[0], "train_top1"), (self.acc_series[1], "val_top1")):
            value = rec.get(key)
            if value is not None:
                series.append(x, float(value))
        for view in (self.loss_view, self.acc_view):
            axis = view.chart().axes(Qt.Orientation.Horizontal)[0]
            axis.setRange(0.0, max(1.0, x))
        losses = [p.y() for s in self.loss_series for p in s.points()]
        if losses:
            self.loss_axis.setRange(0.0, max(max(losses) * 1.05, LOSS_AXIS_MIN))
            self.loss_axis.applyNiceNumbers()  # round ticks (0, 20, 40, 60), not 13.95, 27.89

    def _on_result(self, result: dict) -> None:
        self.result = result
        self._finish_run()
        self.bar.setValue(1000)
        self.bar.setFormat("done")
        self._show_confusion(result)
        acc = result.get("val_top1")
        said = "no held-out segment to test on" if acc is None else f"{acc:.0%} right on held-out segments"
        self._set_status(f"Taught {', '.join(result['categories'])} in {result['seconds']:.1f} s: {said}. "
                         "Save it, or use it now.")
        self.save_button.setEnabled(True)
        self.use_button.setEnabled(True)

    def _show_confusion(self, result: dict) -> None:
        """The held-out confusion matrix with per-label accuracy; a plain sentence instead when nothing was held
        out (a matrix of zeros would read as a model that got everything wrong)."""
        cats, matrix, per = result["categories"], result["confusion"], result["per_label"]
        tested = result.get("val_top1") is not None
        self.confusion.setVisible(tested)
        self.untested.setVisible(not tested)
        if not tested:
            return
        self.confusion.setRowCount(len(cats))
        self.confusion.setColumnCount(len(cats) + 1)
        self.confusion.setHorizontalHeaderLabels([*cats, "accuracy"])
        self.confusion.setVerticalHeaderLabels(cats)
        for r, row in enumerate(matrix):
            total = sum(row) or 1
            for c, n in enumerate(row):
                item = QTableWidgetItem(str(n))
                share = n / total
                item.setBackground(QColor.fromRgbF(0.2, 0.6, 0.3, 0.15 + 0.6 * share) if r == c and n else
                                   QColor.fromRgbF(0.8, 0.2, 0.2, 0.6 * share) if n else QColor(0, 0, 0, 0))
                self.confusion.setItem(r, c, item)
            acc = per.get(cats[r])
            self.confusion.setItem(r, len(cats), QTableWidgetItem("—" if acc is None else f"{acc:.0%}"))
        self.confusion.resizeColumnsToContents()

    def _on_failed(self, message: str) -> None:
        self.error = message
        self._finish_run()
        self._set_status(message, error=True)

    # --------------------------------------------------------------------------------------------- result
    def save_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save taught model", "Name (then under Model → My models):")
        if ok and name.strip():
            self.save_as(name)

    def save_as(self, name: str) -> Path | None:
        """Copy the taught model into My models as `name`; a failure is a message and changes nothing."""
        from slowfast_core.weights.my_models import save_my_model

        if self.result is None:
            return None
        try:
            saved = save_my_model(Path(self.result["model"]), name, {
                "labels": self.result["categories"], "base": self.result.get("base"),
                "val_top1": self.result.get("val_top1"), "sessions": [str(p) for p in self.chosen()],
            }, folder=self.models_folder)
        except SlowFastError as exc:
            self._set_status(str(exc), error=True)
            return None
        self.saved_path = saved.path
        self._set_status(f"Saved as {saved.name!r}: Model → My models, or --weights {saved.name!r}.")
        self.saved.emit(saved.path)
        return saved.path

    def use_now(self) -> None:
        """Run the taught classifier in the live view (the saved copy when there is one)."""
        if self.result is not None:
            self.useModel.emit(self.saved_path or Path(self.result["model"]))

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.job.cancel()
        self.job.discard_warm()
        super().closeEvent(event)
