"""A stack of dismissable banners above the video: errors, warnings and notices, never modal.

Each banner has a key; showing a message with a key already shown replaces that banner instead of piling up
copies (an error repeated every second shows once). Banners can carry action buttons ("Download", "Open…").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QVBoxLayout, QWidget

Level = Literal["error", "warning", "info"]

_STYLES: dict[str, str] = {
    "error": "background:#5c1f1d; color:#ffe9e7; border:1px solid #a83a33;",
    "warning": "background:#5a4310; color:#fff3d6; border:1px solid #b48a26;",
    "info": "background:#1d3b57; color:#e6f1fb; border:1px solid #3c6f9c;",
}
_ICONS = {"error": "✖", "warning": "⚠", "info": "ℹ"}

MAX_BANNERS = 4


class Banner(QFrame):
    """One message: icon, word-wrapped selectable text, optional action buttons, a close button."""

    closed = Signal(str)

    def __init__(self, key: str, text: str, level: Level, actions: Sequence[tuple[str, Callable[[], None]]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key, self.text, self.level = key, text, level
        self.setObjectName("banner")
        self.setStyleSheet(f"QFrame#banner {{{_STYLES[level]} border-radius:4px;}} QLabel {{border:none; background:transparent;}}")
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 5, 6, 5)
        icon = QLabel(_ICONS[level])
        icon.setStyleSheet("font-weight:bold;")
        row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.label, 1)
        for title, callback in actions:
            button = QPushButton(title)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(callback)
            row.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(lambda: self.closed.emit(self.key))
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)


class MessageBar(QWidget):
    """The banners, newest at the bottom; at most MAX_BANNERS (the oldest go first)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 0)
        self._layout.setSpacing(4)
        self._banners: dict[str, Banner] = {}
        self.setVisible(False)

    def show_message(self, text: str, level: Level = "error", *, key: str | None = None,
                     actions: Sequence[tuple[str, Callable[[], None]]] = ()) -> None:
        """Show `text` (replacing the banner with the same key, which defaults to the text itself)."""
        key = key or text
        old = self._banners.pop(key, None)
        if old is not None:
            if old.text == text and old.level == level and not actions:
                self._banners[key] = old
                return
            self._remove(old)
        banner = Banner(key, text, level, actions, self)
        banner.closed.connect(self.dismiss)
        self._banners[key] = banner
        self._layout.addWidget(banner)
        while len(self._banners) > MAX_BANNERS:
            oldest = next(iter(self._banners))
            self._remove(self._banners.pop(oldest))
        self.setVisible(True)
        self.changed.emit()

    def dismiss(self, key: str) -> None:
        """Remove the banner with `key`, if shown."""
        banner = self._banners.pop(key, None)
        if banner is not None:
            self._remove(banner)
            self.setVisible(bool(self._banners))
            self.changed.emit()

    def _remove(self, banner: Banner) -> None:
        self._layout.removeWidget(banner)
        banner.hide()
        banner.deleteLater()

    def messages(self) -> list[tuple[str, str]]:
        """(level, text) of every banner shown, oldest first."""
        return [(b.level, b.text) for b in self._banners.values()]

    def has(self, key: str) -> bool:
        """True when a banner with `key` is shown."""
        return key in self._banners
