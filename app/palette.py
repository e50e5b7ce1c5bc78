"""Colours and fonts shared by the views: one stable colour per class name, readable on dark video.

The colours themselves live in `slowfast_core.overlay.colors` (annotated video files use them too); this module
only turns them into QColors.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont

from slowfast_core.overlay import colors

CLASS_COLORS = colors.CLASS_COLORS


def qcolor(rgba: colors.RGBA) -> QColor:
    """A QColor from an (r, g, b, a) tuple of 0..255."""
    return QColor(*rgba)


BACKGROUND = qcolor(colors.BACKGROUND)
PANEL = qcolor(colors.PANEL)
TEXT = qcolor(colors.TEXT)
MUTED = qcolor(colors.MUTED)
WARNING = qcolor(colors.WARNING)
DANGER = qcolor(colors.DANGER)
NO_ACTION = qcolor(colors.NO_ACTION)


def class_color(name: str | None) -> QColor:
    """The same colour for the same class name in every view and every run; grey for "no action"."""
    return qcolor(colors.class_rgba(name))


def scaled_font(base: QFont, pixel_size: int, *, bold: bool = False) -> QFont:
    """`base` at `pixel_size` pixels (pixel sizes keep overlays proportional to the video, not the DPI)."""
    font = QFont(base)
    font.setPixelSize(max(8, int(pixel_size)))
    font.setBold(bold)
    return font
