"""Colours and fonts shared by the views: one stable colour per class name, readable on dark video."""

from __future__ import annotations

import zlib

from PySide6.QtGui import QColor, QFont

#: Distinct, saturated colours dark enough for white text on top (Tableau-like, the light ones darkened).
CLASS_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6550d", "#138e9b", "#8f9012", "#c9559f",
    "#8c564b", "#3182bd", "#31a354", "#756bb1", "#636363", "#b03a2e", "#b5651d", "#a05195",
)

BACKGROUND = QColor("#15171a")
PANEL = QColor(12, 14, 18, 205)
TEXT = QColor("#f2f2f2")
MUTED = QColor("#a7adb5")
WARNING = QColor("#f0a020")
DANGER = QColor("#e0403a")
NO_ACTION = QColor("#5a6068")


def class_color(name: str | None) -> QColor:
    """The same colour for the same class name in every view and every run; grey for "no action"."""
    if not name:
        return QColor(NO_ACTION)
    return QColor(CLASS_COLORS[zlib.crc32(name.encode("utf-8")) % len(CLASS_COLORS)])


def scaled_font(base: QFont, pixel_size: int, *, bold: bool = False) -> QFont:
    """`base` at `pixel_size` pixels (pixel sizes keep overlays proportional to the video, not the DPI)."""
    font = QFont(base)
    font.setPixelSize(max(8, int(pixel_size)))
    font.setBold(bold)
    return font
