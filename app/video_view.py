"""The live video with the prediction overlay painted over it.

`VideoView` subscribes to a `LiveState`: on every new frame it converts the newest image once and repaints;
the overlay (top-k bars, "no confident action", the window's span, staleness, the untrained warning, the
recording indicator and the current label) is drawn in the same paint pass, so it never flickers. What the
overlay says is computed by `overlay_content(state)`, a plain function that tests can check directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import palette
from app.state import LiveState

UNTRAINED_TEXT = "UNTRAINED — predictions are meaningless"
NO_ACTION_TEXT = "no confident action"


@dataclass(frozen=True)
class OverlayContent:
    """What the overlay shows, independent of how it is painted."""

    headline: str  # the leading action, NO_ACTION_TEXT, or a waiting notice
    confidence: float | None  # of the headline action (None: no action / nothing yet)
    rows: tuple[tuple[str, float], ...]  # top-k (name, probability), best first
    footer: str  # the window's span and age
    stale: bool
    untrained: bool
    has_prediction: bool


def overlay_content(state: LiveState) -> OverlayContent:
    """The overlay's text and bars for the state's newest prediction."""
    untrained = bool(state.model.arch) and not state.model.trained
    p = state.prediction
    if p is None:
        waiting = "loading the model…" if not state.model.arch else "waiting for the first window…"
        return OverlayContent(waiting, None, (), "", False, untrained, False)
    rows = tuple((name, float(prob)) for name, prob in p.topk[: max(1, state.topk)])
    if p.label is None:
        headline, confidence = NO_ACTION_TEXT, None
    else:
        headline, confidence = p.label, float(p.confidence)
    start, end = state.relative(p.start_time), state.relative(p.end_time)
    age = state.prediction_age() or 0.0
    stale = state.is_stale()
    footer = f"window {start:.1f}–{end:.1f} s ({end - start:.1f} s) · {age:.1f} s ago"
    if stale:
        footer += " · stale"
    return OverlayContent(headline, confidence, rows, footer, stale, untrained, True)


class VideoView(QWidget):
    """Newest frame scaled with its aspect ratio kept (letterboxed), with the overlay on top."""

    def __init__(self, state: LiveState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None  # keeps the QImage's pixels alive
        self.paints = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 200)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        state.frameChanged.connect(self._on_frame)
        for signal in (state.predictionChanged, state.modelChanged, state.recordingChanged, state.sourceChanged):
            signal.connect(self.update)
        # Ages and staleness change with time even when nothing arrives (a paused or ended source).
        self._tick = QTimer(self)
        self._tick.setInterval(250)
        self._tick.timeout.connect(self.update)
        self._tick.start()

    def sizeHint(self) -> QSize:
        return QSize(800, 500)

    # --- frames -----------------------------------------------------------------------------------------------
    def _on_frame(self) -> None:
        frame = self.state.frame
        if frame is None:
            self._image, self._buffer = None, None
        else:
            self._set_image(frame.image)
        self.update()

    def _set_image(self, rgb: np.ndarray) -> None:
        """Convert once per frame; big frames are shrunk to the view first (cheaper than scaling in paint)."""
        h, w = rgb.shape[:2]
        target = self.image_rect(w, h)
        if target.width() < w * 0.9 and target.width() >= 16:
            size = (max(1, int(target.width())), max(1, int(target.height())))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(rgb)
        self._buffer = rgb
        self._source_size = (w, h)
        self._image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)

    def image_rect(self, w: int | None = None, h: int | None = None) -> QRectF:
        """Where a w x h frame lands: as large as fits, aspect kept, centred."""
        if w is None or h is None:
            w, h = getattr(self, "_source_size", (16, 9))
        W, H = max(1, self.width()), max(1, self.height())
        scale = min(W / w, H / h)
        dw, dh = w * scale, h * scale
        return QRectF((W - dw) / 2, (H - dh) / 2, dw, dh)

    # --- painting ---------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        self.paints += 1
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), palette.BACKGROUND)
        if self._image is not None:
            area = self.image_rect()
            p.drawImage(area, self._image)
        else:
            area = QRectF(self.rect())
            self._paint_placeholder(p)
        base = int(max(11, min(16, min(area.height(), self.height()) / 34)))
        self._paint_overlay(p, area, base)
        self._paint_recording(p, area, base)
        p.end()

    def _paint_placeholder(self, p: QPainter) -> None:
        status = self.state.status
        text = f"waiting for video from {self.state.source_label}…" if self.state.source_label else "no source"
        if status is not None and status.state in ("failed", "ended", "stopped") and status.message:
            text = status.message
        p.setPen(palette.MUTED)
        p.setFont(palette.scaled_font(self.font(), 15))
        p.drawText(self.rect().adjusted(20, 20, -20, -20), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)

    def _paint_overlay(self, p: QPainter, area: QRectF, base: int) -> None:
        c = overlay_content(self.state)
        margin = 10.0
        panel_w = max(230.0, min(380.0, area.width() * 0.42))
        if area.width() < panel_w + 2 * margin:
            area = QRectF(self.rect())
            panel_w = min(panel_w, area.width() - 2 * margin)
        head_font = palette.scaled_font(self.font(), int(base * 1.45), bold=True)
        row_font = palette.scaled_font(self.font(), base)
        small_font = palette.scaled_font(self.font(), max(10, base - 2))
        warn_font = palette.scaled_font(self.font(), max(10, base - 1), bold=True)
        if c.untrained:  # the warning is never cut: widen the panel, else shrink the text until it fits
            need = QFontMetrics(warn_font).horizontalAdvance(UNTRAINED_TEXT) + 32
            panel_w = min(max(panel_w, need), area.width() - 2 * margin)
            while QFontMetrics(warn_font).horizontalAdvance(UNTRAINED_TEXT) + 32 > panel_w and warn_font.pixelSize() > 8:
                warn_font.setPixelSize(warn_font.pixelSize() - 1)
        row_h = base * 1.75
        head_h = QFontMetrics(head_font).height() + 8
        warn_h = QFontMetrics(warn_font).height() + 8 if c.untrained else 0
        foot_h = QFontMetrics(small_font).height() + 6 if c.footer else 0
        panel_h = 10 + warn_h + head_h + len(c.rows) * row_h + foot_h + 6
        panel = QRectF(area.left() + margin, area.top() + margin, panel_w, panel_h)
        self._panel_rect = panel

        p.save()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(palette.PANEL)
        p.drawRoundedRect(panel, 8, 8)
        x, y, w = panel.left() + 10, panel.top() + 8, panel.width() - 20
        if c.untrained:
            warn = QRectF(x - 4, y - 2, w + 8, warn_h - 2)
            p.setBrush(palette.DANGER)
            p.drawRoundedRect(warn, 4, 4)
            p.setPen(palette.TEXT)
            p.setFont(warn_font)
            p.drawText(warn, Qt.AlignmentFlag.AlignCenter, _elide(p, UNTRAINED_TEXT, warn.width() - 4))
            y += warn_h
        if c.stale:
            p.setOpacity(0.45)
        # headline: the leading action (coloured swatch) or the no-action state
        p.setFont(head_font)
        head = QRectF(x, y, w, head_h - 6)
        if c.confidence is not None:
            sw = head.height() * 0.5
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(palette.class_color(c.headline))
            p.drawEllipse(QRectF(x, head.center().y() - sw / 2, sw, sw))
            p.setPen(palette.TEXT)
            pct = f"{c.confidence * 100:.0f}%"
            pct_w = QFontMetrics(head_font).horizontalAdvance(pct) + 4
            text_rect = QRectF(x + sw + 8, head.top(), w - sw - 8 - pct_w, head.height())
            p.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                       _elide(p, c.headline, text_rect.width()))
            p.drawText(head, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, pct)
        else:
            p.setPen(palette.MUTED)
            italic = palette.scaled_font(head_font, head_font.pixelSize())
            italic.setItalic(True)
            p.setFont(italic)
            p.drawText(head, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, _elide(p, c.headline, w))
        y += head_h
        # top-k rows: name, bar, percentage; the threshold as a tick on each bar
        p.setFont(row_font)
        fm = QFontMetrics(row_font)
        pct_w = fm.horizontalAdvance("100%") + 6
        name_w = w * 0.46
        bar_x = x + name_w + 6
        bar_w = max(20.0, w - name_w - 6 - pct_w)
        for name, prob in c.rows:
            r = QRectF(x, y, w, row_h)
            p.setPen(palette.TEXT if prob >= self.state.threshold else palette.MUTED)
            p.drawText(QRectF(x, y, name_w, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                       _elide(p, name, name_w))
            bar = QRectF(bar_x, r.center().y() - row_h * 0.22, bar_w, row_h * 0.44)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 38))
            p.drawRoundedRect(bar, 3, 3)
            filled = QRectF(bar.left(), bar.top(), max(2.0, bar.width() * min(1.0, max(0.0, prob))), bar.height())
            p.setBrush(palette.class_color(name))
            p.drawRoundedRect(filled, 3, 3)
            tick_x = bar.left() + bar.width() * self.state.threshold
            p.setPen(QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(tick_x, bar.top() - 2), QPointF(tick_x, bar.bottom() + 2))
            p.setPen(palette.TEXT)
            p.drawText(QRectF(x + w - pct_w, y, pct_w, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                       f"{prob * 100:.0f}%")
            y += row_h
        if c.footer:
            p.setOpacity(1.0)
            p.setFont(small_font)
            p.setPen(palette.WARNING if c.stale else palette.MUTED)
            p.drawText(QRectF(x, y + 2, w, foot_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       _elide(p, c.footer, w))
        p.restore()

    def _paint_recording(self, p: QPainter, area: QRectF, base: int) -> None:
        s = self.state
        if s.recording_name is None:
            return
        p.save()
        font = palette.scaled_font(self.font(), base, bold=True)
        p.setFont(font)
        fm = QFontMetrics(font)
        elapsed = max(0.0, s.now() - (s.recording_started or s.now()))
        text = f"REC {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}  {s.recording_name}"
        tw = min(fm.horizontalAdvance(text), area.width() * 0.4)
        box = QRectF(area.right() - tw - 44, area.top() + 10, tw + 34, fm.height() + 12)
        panel = getattr(self, "_panel_rect", None)
        if panel is not None and box.intersects(panel):  # narrow video: use the letterbox, else go below
            box.moveRight(self.width() - 10)
            if box.intersects(panel):
                box.moveTop(panel.bottom() + 8)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(palette.PANEL)
        p.drawRoundedRect(box, 6, 6)
        p.setBrush(palette.DANGER)
        d = fm.height() * 0.6
        p.drawEllipse(QRectF(box.left() + 9, box.center().y() - d / 2, d, d))
        p.setPen(palette.TEXT)
        p.drawText(box.adjusted(14 + d, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   _elide(p, text, box.width() - 20 - d))
        # the label being marked, big, at the bottom centre
        big = palette.scaled_font(self.font(), int(base * 1.6), bold=True)
        p.setFont(big)
        fmb = QFontMetrics(big)
        label = f"● {s.active_label}" if s.active_label else "no label — press 1–9 to mark"
        lw = min(fmb.horizontalAdvance(label) + 32, area.width() - 20)
        lbox = QRectF(area.center().x() - lw / 2, area.bottom() - fmb.height() - 28, lw, fmb.height() + 14)
        p.setPen(Qt.PenStyle.NoPen)
        color = palette.class_color(s.active_label) if s.active_label else palette.PANEL
        if s.active_label:
            color.setAlpha(225)
        p.setBrush(color)
        p.drawRoundedRect(lbox, 8, 8)
        p.setPen(palette.TEXT if s.active_label else palette.MUTED)
        if not s.active_label:
            p.setFont(palette.scaled_font(self.font(), base))
        p.drawText(lbox, Qt.AlignmentFlag.AlignCenter, _elide(p, label, lbox.width() - 12))
        p.restore()


def _elide(p: QPainter, text: str, width: float) -> str:
    """`text` cut with an ellipsis to fit `width` pixels in the painter's current font."""
    return QFontMetrics(p.font()).elidedText(text, Qt.TextElideMode.ElideRight, max(0, int(width)))
