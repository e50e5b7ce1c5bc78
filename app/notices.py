"""The window's notices: what it has to tell the person, ordered, so that one banner shows the most important.

A first start on a laptop used to stack three banners above the video (no camera, weights not downloaded,
untrained weights) that took ~120 px and said the same thing twice. Now every notice goes into a
`NoticeModel`; the banner (app.message_bar) shows only `model.top()`, with its actions (download, open
checkpoint, open file), and the others wait in the status bar's notices menu until the top one is handled
or dismissed. `order_notices` is the ordering, a pure function:

1. level: errors, then warnings, then information;
2. within a level, what blocks meaningful output first (`KEY_RANK`: weights missing before untrained weights
   before "no camera");
3. then the newest first (the latest error is the one that matters now).

A notice the person picked from the menu (`promote`) goes to the top until it is dismissed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from PySide6.QtCore import QObject, Signal

Level = Literal["error", "warning", "info"]
Action = tuple[str, Callable[[], None]]

LEVEL_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}
#: within a level, keys that matter more than the rest (lower first); other keys rank after these
KEY_RANK: dict[str, int] = {"weights": 0, "untrained": 1, "model": 2, "source": 3, "no-camera": 9}
#: notices kept at most (the least important go first): a flood of errors must not grow the menu forever
MAX_NOTICES = 8


@dataclass(frozen=True)
class Notice:
    """One thing to tell the person: a key (a second notice with the same key replaces the first), its text,
    level and actions. seq: when it was posted (higher = newer); pinned: picked from the menu."""

    key: str
    text: str
    level: Level = "info"
    actions: tuple[Action, ...] = field(default=(), compare=False)
    seq: int = 0
    pinned: bool = False


def order_notices(notices: Iterable[Notice]) -> list[Notice]:
    """Most important first: pinned, then level, then `KEY_RANK`, then newest (see the module doc)."""
    return sorted(notices, key=lambda n: (not n.pinned, LEVEL_RANK.get(n.level, 3),
                                          KEY_RANK.get(n.key, len(KEY_RANK)), -n.seq))


class NoticeModel(QObject):
    """The notices now in force. `changed` fires whenever the set or the order changes."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._notices: dict[str, Notice] = {}
        self._seq = itertools.count(1)

    def post(self, key: str, text: str, level: Level = "info", actions: Sequence[Action] = ()) -> None:
        """Add or replace the notice `key`. The same text, level and no new actions: nothing changes."""
        old = self._notices.get(key)
        if old is not None and old.text == text and old.level == level and not actions:
            return
        self._notices[key] = Notice(key, text, level, tuple(actions), next(self._seq),
                                    pinned=old.pinned if old is not None else False)
        for extra in order_notices(self._notices.values())[MAX_NOTICES:]:
            del self._notices[extra.key]
        self.changed.emit()

    def dismiss(self, key: str) -> None:
        """Remove the notice `key`, if any."""
        if self._notices.pop(key, None) is not None:
            self.changed.emit()

    def promote(self, key: str) -> None:
        """Show `key` in the banner now (the person picked it from the menu); others lose their pin."""
        if key not in self._notices:
            return
        self._notices = {k: Notice(n.key, n.text, n.level, n.actions, n.seq, pinned=(k == key))
                         for k, n in self._notices.items()}
        self.changed.emit()

    def has(self, key: str) -> bool:
        return key in self._notices

    def notices(self) -> list[Notice]:
        """Every notice, most important first."""
        return order_notices(self._notices.values())

    def top(self) -> Notice | None:
        """The notice the banner shows (None: no banner)."""
        ordered = self.notices()
        return ordered[0] if ordered else None

    def rest(self) -> list[Notice]:
        """The notices that wait in the menu."""
        return self.notices()[1:]
