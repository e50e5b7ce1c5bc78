"""Record -> Teach…: teach a classifier for the actions in recorded sessions, see it learn, save it, use it.

`TeachJob` (a small QObject controller) runs `python -m slowfast_core.train.teach` in a child process
(QProcess) and turns its JSON lines into signals: the plan, progress, one metrics record per step group, the
result, or one error line. Cancel kills the child; a child that dies is a message, never the window's crash.
The next child is started ahead of time (`TeachJob.prewarm`): it imports torch while the person chooses, and
waits for its job on stdin, so Train starts at once.
`TeachDialog` is the view: sessions (every session with labels checked), examples per label, the `no action`
background, the base model, Train / Cancel, live loss and accuracy curves (QtCharts), then the confusion
matrix with per-label accuracy on held-out segments, **Save as…** (My models) and **Use now** (the running
model's classifier is swapped; the backbone and the video go on).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QObject, QProcess, Qt, Signal
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
    QMenu,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from slowfast_core.errors import SlowFastError

log = logging.getLogger(__name__)


CHILD_MODULE = "slowfast_core.train.teach"  # the teaching child: `python -m` this, JSON lines on stdout

class TeachJob(QObject):
    """One teach in a child process. Signals arrive on the GUI thread (QProcess lives there)."""

    planned = Signal(dict)
    progress = Signal(dict)
    metrics = Signal(dict)
    succeeded = Signal(dict)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, python: str = sys.executable) -> None:
        super().__init__(parent)
        self.python = python
        self.out = Path(tempfile.mkdtemp(prefix="slowfast-teach-"))
        self.process: QProcess | None = None
        self.warm: QProcess | None = None  # a child importing torch ahead of the job (see prewarm)
        self.ready = False  # the warm child said it is ready for its job
        self.children_started = 0
        self._buffer = b""
        self._error: str | None = None
        self._done = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, sessions: list[Path], *, base: str | None, background: bool, mode: str = "head",
              size: int = 0) -> None:
        """Start teaching `sessions` (the previous run's files are replaced)."""
        self.cancel()
        self._buffer, self._error, self._done = b"", None, False
        args = ["--out", str(self.out), "--train", mode]
        if base:
            args += ["--base", base]
        if size:
            args += ["--size", str(size)]
        if not background:
            args.append("--no-background")
        args += [str(p) for p in sessions]
        process, self.warm, self.ready = self.warm, None, False
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            self._buffer = bytes(process.readAllStandardOutput())  # its 'ready' line; the job's lines follow
            process.readyReadStandardOutput.disconnect(self._warm_read)
            process.write((json.dumps(args) + "\n").encode("utf-8"))
        else:
            process = self._new_child(["-m", CHILD_MODULE, *args])
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        if process.state() == QProcess.ProcessState.NotRunning:
            process.start()

    def prewarm(self) -> None:
        """Start the next child now: it imports torch and the model code, then waits for its job on stdin.

        Importing torch is most of a teach's time on a small CPU (seconds to tens of seconds); the dialog
        calls this when it opens and after each run, so Train starts in about a second. The warm child exits
        by itself when its stdin closes (the dialog or the program went away), and a warm child that died
        is replaced by a fresh one at Train.
        """
        if self.warm is not None and self.warm.state() != QProcess.ProcessState.NotRunning:
            return
        self.ready = False
        self.warm = self._new_child(["-m", CHILD_MODULE, "--stdin"])
        self.warm.readyReadStandardOutput.connect(self._warm_read)
        self.warm.start()

    def _new_child(self, args: list[str]) -> QProcess:
        process = QProcess(self)
        process.setProgram(self.python)
        process.setArguments(args)
        self.children_started += 1
        return process

    def _warm_read(self) -> None:
        """Notice the warm child's `ready` line (left in its buffer for the job's reader)."""
        if self.warm is not None and b'"ready"' in bytes(self.warm.peek(4096)):
            self.ready = True

    def cancel(self) -> None:
        """Kill a running child (its half-written model stays in the job's private folder)."""
        process, self.process = self.process, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.finished.disconnect(self._finished)
            process.kill()
            process.waitForFinished(2000)

    def discard_warm(self) -> None:
        """Stop the waiting child (closing its stdin is enough; kill it if it is still importing)."""
        warm, self.warm, self.ready = self.warm, None, False
        if warm is not None and warm.state() != QProcess.ProcessState.NotRunning:
            warm.closeWriteChannel()
            if not warm.waitForFinished(1000):
                warm.kill()
                warm.waitForFinished(2000)

    def cleanup(self) -> None:
        self.cancel()
        self.discard_warm()
        shutil.rmtree(self.out, ignore_errors=True)

    def _read(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                event = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "plan":
                self.planned.emit(event)
            elif kind == "progress":
                self.progress.emit(event)
            elif kind == "metrics":
                self.metrics.emit(event)
            elif kind == "result":
                self._done = True
                self.succeeded.emit(event)
            elif kind == "ready":
                continue
            elif kind == "error":
                self._error = str(event.get("message") or "teaching failed")

    def _process_error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart and self.process is not None:
            self.failed.emit(f"could not start the teaching process ({self.process.errorString()})")
            self.process = None

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process = self.process
        if process is None:
            return
        self._read()
        if self._done:
            return
        if self._error:
            self.failed.emit(self._error)
            return
        stderr = bytes(process.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
        last = stderr[-1] if stderr else ""
        how = "crashed" if status == QProcess.ExitStatus.CrashExit else f"stopped with exit code {code}"
        self.failed.emit(f"the teaching process {how}{': ' + last if last else ''}; nothing was changed")


def session_rows(root: Path) -> list[tuple[Path, str, dict[str, tuple[int, float]]]]:
    """Finished sessions under `root`: (folder, name, {label: (segments, seconds)}), newest first."""
    from slowfast_core.sessions.store import list_sessions, load_session

    rows = []
    for info in list_sessions(root):
        if info.unfinished or info.damaged:
            continue
        try:
            session = load_session(info.path)
        except SlowFastError:
            continue
        per: dict[str, tuple[int, float]] = {}
        for seg in session.labels:
            n, secs = per.get(seg.label, (0, 0.0))
            per[seg.label] = (n + 1, secs + max(0.0, seg.end - seg.start))
        rows.append((info.path, info.name, per))
    return rows


def fill_my_models(menu: QMenu, folder: Path, choose: Any, current: str = "") -> QMenu:
    """Add Model -> My models (taught models, newest first; `choose(path)` runs one)."""
    from slowfast_core.weights.my_models import list_my_models

    sub = menu.addMenu("My &models")
    models = list_my_models(folder)
    for m in models:
        a = sub.addAction(m.name, lambda _c=False, p=m.path: choose(p))
        a.setToolTip(m.describe())
        a.setCheckable(True)
        a.setChecked(current in (str(m.path), m.path.name))
    if not models:
        sub.addAction("(none yet: Record → Teach…)").setEnabled(False)
    return sub


def _chart(title: str, names: list[str], y_max: float | None) -> tuple[QChartView, list[QLineSeries], QValueAxis]:
    chart = QChart()
    chart.setTitle(title)
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    x_axis, y_axis = QValueAxis(), QValueAxis()
    x_axis.setTitleText("optimiser steps (x10) or epochs")
    x_axis.setLabelFormat("%.0f")
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
            self.loss_axis.setRange(0.0, max(losses) * 1.05 or 1.0)

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
        cats, matrix, per = result["categories"], result["confusion"], result["per_label"]
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
