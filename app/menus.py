"""The main window's actions, menus and toolbar (a mixin of `MainWindow`, kept apart so that window.py reads as
the window's wiring). Menus that change (sources, recent files, models) are filled each time they open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

from app.detection import person_detector_choices, same_detector
from app.sources import DEMO_SOURCE, source_title
from slowfast_core.weights.my_models import models_dir


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


class WindowMenus:
    """Builds `MainWindow`'s actions (`*_action`), menus and toolbar; the slots are the window's."""

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None, tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even with the menu bar hidden (full screen)
        return action

    def _build_actions(self) -> None:
        self.open_file_action = self._action("&Open video file…", self.open_file_dialog, QKeySequence.StandardKey.Open,
                                             "Play a video file as the source")
        self.demo_action = self._action("&Demo source (synthetic)", lambda: self.sources.switch(DEMO_SOURCE),
                                        "Ctrl+D", "A moving test scene: works without a camera")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.open_checkpoint_action = self._action("Open &checkpoint…", self.open_checkpoint_dialog,
                                                   "Ctrl+Shift+O", "Run the weights from a checkpoint file")
        self.untrained_action = self._action("&Untrained weights (testing only)", self.models.use_untrained)
        self.open_detection_checkpoint_action = self._action(
            "Open &detection checkpoint…", self.open_detection_checkpoint_dialog,
            tip="Detection on with a per-person model from `slowfast train --task detect`")
        self.record_action = self._action("&Record…", self.toggle_recording, "R",
                                          "Start or stop recording a labeled session")
        self.end_label_action = self._action("&End current label", self.recording.end_label, "Space")
        self.label_actions = [
            self._action(f"Mark label {k}", lambda _c=False, i=k - 1: self.mark_label(i), str(k)) for k in range(1, 10)
        ]
        self.sessions_action = self._action("&Sessions…", self.show_sessions, "Ctrl+Shift+S",
                                            "Replay, rename, delete and export recorded sessions")
        self.teach_action = self._action("&Teach…", self.show_teach, "Ctrl+Shift+T",
                                         "Teach it the actions marked in recorded sessions")
        self.settings_action = self._action("&Settings…", self.show_settings, QKeySequence.StandardKey.Preferences)
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.fullscreen_action = self._action("&Full screen", self.toggle_fullscreen, "F11", checkable=True)
        self.timeline_action = self._action("Show &timeline", self.toggle_timeline, "Ctrl+T", checkable=True)
        self.timeline_action.setChecked(True)
        self.detection_action = self._action("&Detection: who is doing what", self.toggle_detection, "Ctrl+Shift+P",
                                             "Box each person and name what each one does (per-person actions)",
                                             checkable=True)
        self.detection_action.setChecked(self.detection.wanted)
        self.help_action = self._action("&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self.about_action = self._action("&About SlowFast Live", self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_file_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        self.source_menu = bar.addMenu("&Source")
        self.source_menu.aboutToShow.connect(self._fill_sources)
        self._fill_sources()

        self.model_menu = bar.addMenu("&Model")
        self.model_menu.aboutToShow.connect(self._fill_models)
        self._fill_models()

        rec = bar.addMenu("&Record")
        rec.addAction(self.record_action)
        rec.addAction(self.end_label_action)
        marks = rec.addMenu("&Mark label")
        for a in self.label_actions:
            marks.addAction(a)
        rec.addSeparator()
        rec.addAction(self.sessions_action)
        rec.addAction(self.teach_action)

        view = bar.addMenu("&View")
        view.addAction(self.fullscreen_action)
        view.addAction(self.timeline_action)
        view.addAction(self.detection_action)
        view.addSeparator()
        view.addAction(self.settings_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.about_action)

        tools = QToolBar("Main", self)
        tools.setObjectName("main-toolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tools.addAction(self.open_file_action)
        tools.addAction(self.demo_action)
        tools.addSeparator()
        tools.addAction(self.record_action)
        tools.addAction(self.sessions_action)
        tools.addSeparator()
        tools.addAction(self.settings_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)
        self.toolbar = tools
        self._label_label_actions()

    def _label_label_actions(self) -> None:
        for i, a in enumerate(self.label_actions):
            name = self.prefs.settings.labels[i] if i < len(self.prefs.settings.labels) else None
            a.setText(f"{i + 1}: {name}" if name else f"{i + 1}: (no label)")
            a.setEnabled(name is not None)

    def _fill_sources(self) -> None:
        m = self.source_menu
        m.clear()
        if self.sources.cameras:
            for cam in self.sources.cameras:
                a = m.addAction(cam.name, lambda _c=False, s=cam.spec: self.sources.switch(s))
                a.setCheckable(True)
                a.setChecked(self.sources.spec == cam.spec)
        else:
            a = m.addAction("No camera found")
            a.setEnabled(False)
        m.addSeparator()
        m.addAction(self.open_file_action)
        m.addAction(self.demo_action)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for spec in self.prefs.settings.recent_files:
            self.recent_menu.addAction(source_title(spec), lambda _c=False, s=spec: self.sources.switch(s))
        if not self.prefs.settings.recent_files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _fill_models(self) -> None:
        from slowfast_core.weights.registry import is_cached, list_weights

        m = self.model_menu
        m.clear()
        group = QActionGroup(m)
        loaded = self.models.loaded
        current = loaded.info.weights if loaded is not None else self.prefs.settings.weights
        for entry in list_weights():
            suffix = "" if is_cached(entry) else "  (download)"
            a = m.addAction(f"{entry.name}  ·  {entry.top1:.1f}% top-1{suffix}",
                            lambda _c=False, e=entry.name: self.choose_weights(e))
            a.setToolTip(entry.description)
            a.setCheckable(True)
            a.setChecked(current == entry.name)
            group.addAction(a)
        m.addSeparator()
        self.my_models_menu = fill_my_models(m, models_dir(self.sessions_root), self.models.open_checkpoint,
                                             loaded.request.weights if loaded is not None else "")
        m.addAction(self.open_checkpoint_action)
        m.addAction(self.untrained_action)
        self._fill_detection_models(m)

    def _fill_detection_models(self, m: QMenu) -> None:
        """Model -> the detection model (who is doing what): the detection registry's per-person action models,
        random weights, a detection checkpoint, and the person detector. Picking one turns Detection on."""
        from slowfast_core.weights.detection_registry import cached_detection_path, detection_registry

        m.addSeparator()
        m.addSection("Detection: who is doing what")
        on, req = self.detection.wanted, self.detection.request
        group = QActionGroup(m)
        entries = list(detection_registry().values())
        for entry in (e for e in entries if e.kind == "actions"):
            suffix = "" if cached_detection_path(entry).is_file() else "  (download)"
            a = m.addAction(f"{entry.name}  ·  per person, {len(entry.categories)} AVA actions{suffix}",
                            lambda _c=False, n=entry.name: self.choose_detection_weights(n))
            a.setToolTip(entry.description)
            a.setCheckable(True)
            a.setChecked(on and req.weights == entry.name)
            group.addAction(a)
        a = m.addAction(f"Untrained detection model ({self.prefs.settings.detect_arch}, testing only)",
                        lambda _c=False: self.use_detection_model(None, self.prefs.settings.detect_arch))
        a.setCheckable(True)
        a.setChecked(on and req.weights is None)
        group.addAction(a)
        if req.weights and Path(req.weights).name != req.weights:  # a checkpoint file: shown by its name
            a = m.addAction(f"{Path(req.weights).name}  ·  detection checkpoint")
            a.setToolTip(req.weights)
            a.setCheckable(True)
            a.setChecked(on)
            a.setEnabled(False)
            group.addAction(a)
        m.addAction(self.open_detection_checkpoint_action)
        people = m.addMenu("&Person detector")
        pgroup = QActionGroup(people)
        for name, text in person_detector_choices(req.detector, self.sources.spec):
            a = people.addAction(text, lambda _c=False, n=name: self.pick_person_detector(n))
            a.setCheckable(True)
            a.setChecked(same_detector(req.detector, name))
            pgroup.addAction(a)
