"""The OpenCV painter: the overlay's display list drawn onto a numpy frame (annotated video files).

OpenCV 5 draws text with a TrueType font; OpenCV 4's Hershey fonts are ASCII-only, so there "—", "–", "·" and
"…" become "-", "-", "|" and "...".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

from slowfast_core.overlay.colors import RGBA
from slowfast_core.overlay.content import Marking, OverlayContent
from slowfast_core.overlay.layout import Fill, Font, Item, Line, OverlayLayout, Text, layout_for_frame

_ASCII = str.maketrans({"—": "-", "–": "-", "·": "|", "…": "...", "●": "*", "×": "x"})
#: OpenCV 5's putText draws Unicode with a built-in TrueType font; 4.x has only the ASCII Hershey fonts.
CV_UNICODE = int(cv2.__version__.split(".")[0]) >= 5
_CAP_PER_PX = 0.71  # Qt's sans: cap height / pixel size


def _cap_height() -> float:
    """Cap height in pixels of OpenCV's font at scale 1, measured from a drawn "H" (differs by version)."""
    canvas = np.zeros((120, 120), np.uint8)
    cv2.putText(canvas, "H", (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, 1, cv2.LINE_AA)
    rows = np.nonzero(canvas.max(axis=1) > 127)[0]
    return float(rows.max() - rows.min() + 1) if len(rows) else 21.0


_CV_CAP = _cap_height()


def ascii_text(text: str) -> str:
    """`text` in the characters OpenCV's font can draw (see the module doc); with OpenCV 4, others become '?'."""
    if CV_UNICODE:
        return text
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


class CvTextMeasure:
    """Text metrics of the OpenCV painter's Hershey fonts (Simplex; Duplex for bold)."""

    @staticmethod
    def style(font: Font) -> tuple[int, float, int]:
        """(face, scale, thickness) that draw `font` with a cap height close to Qt's at the same pixel size."""
        face = cv2.FONT_HERSHEY_DUPLEX if font.bold else cv2.FONT_HERSHEY_SIMPLEX
        if font.italic:
            face |= cv2.FONT_ITALIC
        scale = font.px * _CAP_PER_PX / _CV_CAP
        thickness = max(1, int(round(font.px / (12.0 if font.bold else 18.0))))
        return face, scale, thickness

    def width(self, text: str, font: Font) -> float:
        face, scale, thickness = self.style(font)
        return float(cv2.getTextSize(ascii_text(text), face, scale, thickness)[0][0])

    def height(self, font: Font) -> float:
        return float(math.ceil(font.px * 1.2))


class CvPainter:
    """Draws a display list onto a (H, W, 3) uint8 image in place, antialiased, alpha-blended item by item.

    `channels` is "bgr" (OpenCV frames) or "rgb"; colours are RGBA either way.
    """

    def __init__(self, image: np.ndarray, *, channels: Literal["bgr", "rgb"] = "bgr") -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"need an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        self.image = image
        self.bgr = channels == "bgr"

    def paint(self, items: Sequence[Item]) -> None:
        for item in items:
            if isinstance(item, Fill):
                self._fill(item)
            elif isinstance(item, Text):
                self._text(item)
            else:
                self._line(item)

    # Each primitive is drawn as a coverage mask (0..255, antialiased) over its bounding box, then blended.
    def _blend(self, x0: int, y0: int, mask: np.ndarray, color: RGBA) -> None:
        h, w = self.image.shape[:2]
        x1, y1 = min(w, x0 + mask.shape[1]), min(h, y0 + mask.shape[0])
        cx0, cy0 = max(0, x0), max(0, y0)
        if x1 <= cx0 or y1 <= cy0 or color[3] == 0:
            return
        m = mask[cy0 - y0:y1 - y0, cx0 - x0:x1 - x0].astype(np.float32) * (color[3] / (255.0 * 255.0))
        rgb = color[2::-1] if self.bgr else color[:3]
        roi = self.image[cy0:y1, cx0:x1].astype(np.float32)  # (h, w, 3)
        roi += (np.asarray(rgb, np.float32) - roi) * m[..., None]
        self.image[cy0:y1, cx0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)

    def _fill(self, item: Fill) -> None:
        r = item.rect
        x0, y0 = int(math.floor(r.x)), int(math.floor(r.y))
        w, h = int(round(r.right)) - x0, int(round(r.bottom)) - y0
        if w <= 0 or h <= 0:
            return
        mask = np.zeros((h + 2, w + 2), np.uint8)
        if item.ellipse:
            cv2.ellipse(mask, ((r.x - x0 + 0.5 * r.w, r.y - y0 + 0.5 * r.h), (r.w, r.h), 0), 255, -1, cv2.LINE_AA)
        else:
            rad = int(round(min(item.radius, w / 2, h / 2)))
            cv2.rectangle(mask, (rad, 0), (w - 1 - rad, h - 1), 255, -1)
            cv2.rectangle(mask, (0, rad), (w - 1, h - 1 - rad), 255, -1)
            if rad > 0:
                for cx, cy in ((rad, rad), (w - 1 - rad, rad), (rad, h - 1 - rad), (w - 1 - rad, h - 1 - rad)):
                    cv2.circle(mask, (cx, cy), rad, 255, -1, cv2.LINE_AA)
        self._blend(x0, y0, mask, item.color)

    def _text(self, item: Text) -> None:
        text = ascii_text(item.text)
        if not text:
            return
        face, scale, thickness = CvTextMeasure.style(item.font)
        (tw, _), _ = cv2.getTextSize(text, face, scale, thickness)
        r = item.rect
        if item.align == "right":
            tx = r.right - tw
        elif item.align == "center":
            tx = r.cx - tw / 2
        else:
            tx = r.x
        cap = _CV_CAP * scale
        pad = thickness + 2
        x0, y0 = int(math.floor(tx)) - pad, int(math.floor(r.cy - cap / 2)) - pad
        mask = np.zeros((int(cap * 1.6) + 2 * pad, tw + 2 * pad), np.uint8)  # room for descenders
        cv2.putText(mask, text, (pad, pad + int(round(cap))), face, scale, 255, thickness, cv2.LINE_AA)
        # clip to the text's box horizontally, as Qt's drawText(rect) does
        lo, hi = int(math.floor(r.x)) - x0, int(math.ceil(r.right)) - x0
        mask[:, : max(0, lo)] = 0
        mask[:, max(0, hi):] = 0
        self._blend(x0, y0, mask, item.color)

    def _line(self, item: Line) -> None:
        x0, y0 = int(math.floor(min(item.x1, item.x2))) - 2, int(math.floor(min(item.y1, item.y2))) - 2
        w = int(math.ceil(abs(item.x2 - item.x1))) + 5
        h = int(math.ceil(abs(item.y2 - item.y1))) + 5
        mask = np.zeros((h, w), np.uint8)
        p1 = np.array([item.x1 - x0, item.y1 - y0])
        p2 = np.array([item.x2 - x0, item.y2 - y0])
        length = float(np.hypot(*(p2 - p1)))
        dash = 4.0 * max(1.0, item.width) if item.dashed else length  # Qt's DashLine: 4 on, 2 off (x width)
        gap = 2.0 * max(1.0, item.width) if item.dashed else 0.0
        t = 0.0
        thickness = max(1, int(round(item.width)))
        while t < length:
            a = p1 + (p2 - p1) * (t / length)
            b = p1 + (p2 - p1) * (min(length, t + dash) / length)
            cv2.line(mask, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), 255, thickness,
                     cv2.LINE_AA)
            t += dash + gap
        self._blend(x0, y0, mask, item.color)


def draw_overlay(
    image: np.ndarray, content: OverlayContent, *, threshold: float, marking: Marking | None = None,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> OverlayLayout:
    """Draw the overlay over the whole of `image` ((H, W, 3) uint8, in place) with the OpenCV painter.
    Returns the layout that was drawn."""
    h, w = image.shape[:2]
    layout = layout_for_frame(content, width=w, height=h, threshold=threshold, measure=CvTextMeasure(),
                              marking=marking)
    CvPainter(image, channels=channels).paint(layout.items)
    return layout
