"""The window's settings in force: one `AppSettings` object, saved on each change, and applying edited ones.

Every controller reads `prefs.settings` (never a copy of its own, which would go stale when the settings are
replaced) and calls `prefs.save()` after changing it. `apply(new)` hands the live options to the live session
first (one new engine settings snapshot; a bad combination is one notice and the old settings stay) and then
tells the others through `changed`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from app.notices import NoticeModel
from app.settings import AppSettings, SettingsStore
from slowfast_core.errors import SlowFastError
from slowfast_core.stream.session import LiveSession

logger = logging.getLogger(__name__)


class SettingsController(QObject):
    """The settings in force. `changed(new, old)`: edited settings were applied to the engine and saved."""

    changed = Signal(object, object)

    def __init__(self, store: SettingsStore, settings: AppSettings, session: LiveSession, notices: NoticeModel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.settings = settings
        self.session = session
        self.notices = notices

    def save(self) -> None:
        """Write the settings now; a settings file problem is logged, never raised (the window goes on)."""
        try:
            self.store.save(self.settings)
        except Exception as exc:  # noqa: BLE001 - a settings file problem must not break the window
            logger.warning("could not save settings: %s", exc)

    def apply(self, new: AppSettings) -> bool:
        """Apply edited settings: the engine's live options at once (one snapshot, through the session), then
        `changed`. False when they were refused (the notice says why; the old settings stay)."""
        try:
            self.session.update_settings(stride_s=new.stride_s, topk=new.topk, threshold=new.threshold,
                                        smoothing=new.smoothing, device=new.device, backend=new.backend)
        except SlowFastError as exc:
            self.notices.post("settings", str(exc), "error")
            return False
        old, self.settings = self.settings, new
        self.save()
        self.changed.emit(new, old)
        return True
