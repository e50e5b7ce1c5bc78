"""Colours and fonts shared by the views: one stable colour per class name, readable on dark video.

The colours themselves live in `slowfast_core.overlay` (annotated video files use them too); this module
only turns them into QColors.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont

from slowfast_core import overlay as look

CLASS_COLORS = look.CLASS_COLORS


def qcolor(rgba: look.RGBA) -> QColor:
    """A QColor from an (r, g, b, a) tuple of 0..255."""
    return QColor(*rgba)


BACKGROUND = qcolor(look.BACKGROUND)
PANEL = qcolor(look.PANEL)
TEXT = qcolor(look.TEXT)
MUTED = qcolor(look.MUTED)
WARNING = qcolor(look.WARNING)
DANGER = qcolor(look.DANGER)
NO_ACTION = qcolor(look.NO_ACTION)


def class_color(name: str | None) -> QColor:
    """The same colour for the same class name in every view and every run; grey for "no action"."""
    return qcolor(look.class_rgba(name))


def scaled_font(base: QFont, pixel_size: int, *, bold: bool = False) -> QFont:
    """`base` at `pixel_size` pixels (pixel sizes keep overlays proportional to the video, not the DPI)."""
    font = QFont(base)
    font.setPixelSize(max(8, int(pixel_size)))
    font.setBold(bold)
    return font
