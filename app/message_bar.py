"""The banner above the video: one notice at a time (the most important, see app.notices), never modal.

Each notice has a key; posting a message with a key already in force replaces it instead of piling up copies
(an error repeated every second shows once). A banner carries its notice's action buttons ("Download",
"Open…"); the other notices wait in a status-bar menu.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.notices import Level, Notice, NoticeModel

_STYLES: dict[str, str] = {
    "error": "background:#5c1f1d; color:#ffe9e7; border:1px solid #a83a33;",
    "warning": "background:#5a4310; color:#fff3d6; border:1px solid #b48a26;",
    "info": "background:#1d3b57; color:#e6f1fb; border:1px solid #3c6f9c;",
}
_ICONS = {"error": "✖", "warning": "⚠", "info": "ℹ"}

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
    """One banner above the video: the most important notice of a `NoticeModel` (app.notices), with its actions.

    The other notices wait in `more_button` (for the status bar): "2 more notices", a menu that lists them;
    picking one shows it in the banner. Dismissing the banner (✕) removes that notice and shows the next.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, model: NoticeModel | None = None) -> None:
        super().__init__(parent)
        self.model = model or NoticeModel(self)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 0)
        self._layout.setSpacing(4)
        self._banner: Banner | None = None
        self._banner_notice: Notice | None = None
        self.more_button = QToolButton()
        self.more_button.setAutoRaise(True)
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more_button.setToolTip("other notices: pick one to show it above the video")
        self._menu = QMenu(self.more_button)
        self.more_button.setMenu(self._menu)
        self.more_button.setVisible(False)
        self.model.changed.connect(self._refresh)
        self.setVisible(False)

    # --- the API the window uses (kept from the stacked banners) ---------------------------------------------
    def show_message(self, text: str, level: Level = "error", *, key: str | None = None,
                     actions: Sequence[tuple[str, Callable[[], None]]] = ()) -> None:
        """Post `text` as notice `key` (default: the text itself), replacing the notice with that key."""
        self.model.post(key or text, text, level, actions)

    def dismiss(self, key: str) -> None:
        """Remove the notice with `key`, if any."""
        self.model.dismiss(key)

    def messages(self) -> list[tuple[str, str]]:
        """(level, text) of every notice in force, most important (the banner's) first."""
        return [(n.level, n.text) for n in self.model.notices()]

    def shown(self) -> tuple[str, str] | None:
        """(level, text) of the banner on screen, None when there is none."""
        n = self._banner_notice
        return (n.level, n.text) if n is not None else None

    def has(self, key: str) -> bool:
        """True when a notice with `key` is in force (in the banner or in the menu)."""
        return self.model.has(key)

    # --- view ------------------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        top = self.model.top()
        if top != self._banner_notice or (top is not None and self._banner is None):
            if self._banner is not None:
                self._layout.removeWidget(self._banner)
                self._banner.hide()
                self._banner.deleteLater()
                self._banner = None
            self._banner_notice = top
            if top is not None:
                self._banner = Banner(top.key, top.text, top.level, top.actions, self)
                self._banner.closed.connect(self.model.dismiss)
                self._layout.addWidget(self._banner)
                self._banner.setVisible(True)
        rest = self.model.rest()
        self._menu.clear()
        for n in rest:
            text = n.text if len(n.text) <= 90 else n.text[:87] + "…"
            action = self._menu.addAction(f"{_ICONS[n.level]}  {text}", lambda k=n.key: self.model.promote(k))
            action.setToolTip(n.text)
        self.more_button.setText(f"{_ICONS[rest[0].level]} {len(rest)} more notice{'s' if len(rest) > 1 else ''}"
                                 if rest else "")
        self.more_button.setVisible(bool(rest))
        self.setVisible(top is not None)
        self.changed.emit()
