"""The overlay's colours (RGBA): the panel, texts, warnings, and one stable colour per class name.

The window's palette (app/palette.py) and annotated video files use these same colours.
"""

from __future__ import annotations

import zlib

RGBA = tuple[int, int, int, int]


def _hex(code: str, alpha: int = 255) -> RGBA:
    return int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16), alpha


#: Distinct, saturated colours dark enough for white text on top (Tableau-like, the light ones darkened).
CLASS_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6550d", "#138e9b", "#8f9012", "#c9559f",
    "#8c564b", "#3182bd", "#31a354", "#756bb1", "#636363", "#b03a2e", "#b5651d", "#a05195",
)
BACKGROUND = _hex("#15171a")
PANEL: RGBA = (12, 14, 18, 205)
TEXT = _hex("#f2f2f2")
MUTED = _hex("#a7adb5")
WARNING = _hex("#f0a020")
DANGER = _hex("#e0403a")
NO_ACTION = _hex("#5a6068")
BAR_TRACK: RGBA = (255, 255, 255, 38)
THRESHOLD_TICK: RGBA = (255, 255, 255, 150)
MARKED_ALPHA = 225  # the marked label's box: its class colour, slightly see-through
STALE_OPACITY = 0.45  # headline and rows of a prediction older than `stale_after`


def class_rgba(name: str | None) -> RGBA:
    """The same colour for the same class name in every view, file and run; grey for "no action"."""
    if not name:
        return NO_ACTION
    return _hex(CLASS_COLORS[zlib.crc32(name.encode("utf-8")) % len(CLASS_COLORS)])


def faded(color: RGBA, opacity: float) -> RGBA:
    return color[0], color[1], color[2], int(round(color[3] * opacity))


def track_rgba(track_id: int) -> RGBA:
    """The colour of a tracked person (detection): the same for the same track id in every view and file."""
    return _hex(CLASS_COLORS[(track_id * 5) % len(CLASS_COLORS)])
