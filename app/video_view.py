"""The live video with the prediction overlay painted over it.

`VideoView` subscribes to a `LiveState`: on every new frame it converts the newest image once and repaints;
the overlay (top-k bars, "no confident action", the window's span, staleness, the untrained warning, the
recording indicator and the current label) is drawn in the same paint pass, so it never flickers.

What the overlay says and where everything goes is `slowfast_core.overlay` (`content.overlay_content`,
`layout.layout_overlay`), shared with annotated video files; this module only feeds it the state and paints its
display list with QPainter (`QtPainter`, with Qt's font metrics as `QtTextMeasure`).
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetricsF, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import palette
from app.state import LiveState
from slowfast_core.overlay import content
from slowfast_core.overlay.content import Marking, OverlayContent, ShownPrediction
from slowfast_core.overlay.layout import Fill, Font, Item, Rect, Text, base_px, layout_overlay
from slowfast_core.overlay.people import layout_people
from slowfast_core.records import PersonRecord

RECORD_PROMPT = "no label — press 1–9 to mark"


def _origin(state: LiveState) -> float:
    """Time 0 of the overlay's clock: the source's first frame (before any frame: the newest window's start)."""
    if state.origin is not None:
        return state.origin
    return state.prediction.start_time if state.prediction is not None else 0.0


def shown_prediction(state: LiveState) -> ShownPrediction | None:
    """The state's newest prediction, its times in seconds on the overlay's clock (`_origin`)."""
    p = state.prediction
    if p is None:
        return None
    origin = _origin(state)
    return ShownPrediction(p.topk, p.label, float(p.confidence), p.start_time - origin, p.end_time - origin,
                           padded=p.padded)


def overlay_content(state: LiveState) -> OverlayContent:
    """The overlay's text and bars for the state's newest prediction."""
    untrained = bool(state.model.arch) and not state.model.trained
    waiting = "loading the model…" if not state.model.arch else "waiting for the first window…"
    return content.overlay_content(shown_prediction(state), now=state.now() - _origin(state), topk=state.topk,
                                        stale_seconds=state.stale_after(), untrained=untrained, waiting=waiting)


def recording_marking(state: LiveState) -> Marking | None:
    """The REC badge and the label being marked, while recording."""
    if state.recording_name is None:
        return None
    elapsed = max(0.0, state.now() - (state.recording_started or state.now()))
    badge = f"REC {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}  {state.recording_name}"
    return Marking(badge=badge, label=state.active_label or None, prompt=RECORD_PROMPT)


def shown_people(state: LiveState) -> tuple[PersonRecord, ...] | None:
    """The newest prediction's people when the engine runs the per-person path (() nobody in view), else None."""
    p = state.prediction
    return None if p is None or p.people is None else tuple(p.people)


class QtTextMeasure:
    """`slowfast_core.overlay.layout.TextMeasure` with Qt's fonts: the widget's font family at each pixel size."""

    def __init__(self, base: QFont) -> None:
        self.base = QFont(base)
        self._fonts: dict[Font, tuple[QFont, QFontMetricsF]] = {}

    def qfont(self, font: Font) -> QFont:
        return self._get(font)[0]

    def _get(self, font: Font) -> tuple[QFont, QFontMetricsF]:
        if font not in self._fonts:
            q = palette.scaled_font(self.base, font.px, bold=font.bold)
            q.setItalic(font.italic)
            self._fonts[font] = (q, QFontMetricsF(q))
        return self._fonts[font]

    def width(self, text: str, font: Font) -> float:
        return self._get(font)[1].horizontalAdvance(text)

    def height(self, font: Font) -> float:
        return self._get(font)[1].height()


_ALIGN = {
    "left": Qt.AlignmentFlag.AlignLeft, "right": Qt.AlignmentFlag.AlignRight, "center": Qt.AlignmentFlag.AlignHCenter,
}


class QtPainter:
    """Paints an overlay display list with a QPainter: one call per primitive, nothing decided here."""

    def __init__(self, painter: QPainter, measure: QtTextMeasure) -> None:
        self.p = painter
        self.measure = measure

    def paint(self, items: tuple[Item, ...]) -> None:
        p = self.p
        p.save()
        for item in items:
            if isinstance(item, Fill):
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(palette.qcolor(item.color))
                r = _qrect(item.rect)
                if item.ellipse:
                    p.drawEllipse(r)
                else:
                    p.drawRoundedRect(r, item.radius, item.radius)
            elif isinstance(item, Text):
                p.setFont(self.measure.qfont(item.font))
                p.setPen(palette.qcolor(item.color))
                p.drawText(_qrect(item.rect), _ALIGN[item.align] | Qt.AlignmentFlag.AlignVCenter, item.text)
            else:
                style = Qt.PenStyle.DashLine if item.dashed else Qt.PenStyle.SolidLine
                p.setPen(QPen(palette.qcolor(item.color), item.width, style))
                p.drawLine(QPointF(item.x1, item.y1), QPointF(item.x2, item.y2))
        p.restore()


def _qrect(r: Rect) -> QRectF:
    return QRectF(r.x, r.y, r.w, r.h)


def _rect(r: QRectF) -> Rect:
    return Rect(r.x(), r.y(), r.width(), r.height())


class VideoView(QWidget):
    """Newest frame scaled with its aspect ratio kept (letterboxed), with the overlay on top."""

    def __init__(self, state: LiveState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None  # keeps the QImage's pixels alive
        self.paints = 0
        self._measure: QtTextMeasure | None = None
        #: the per-person display list painted last (None: the whole-frame overlay was painted instead)
        self.last_people_items: tuple[Item, ...] | None = None
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
        if self._measure is None or self._measure.base != self.font():
            self._measure = QtTextMeasure(self.font())
        measure = self._measure
        people = shown_people(self.state)
        if people is not None:  # detecting: each person's box and actions (or "no person in view"), no panel
            self.last_people_items = layout_people(people, width=int(area.width()), height=int(area.height()),
                                                   measure=measure)
            p.save()
            p.translate(area.topLeft())
            QtPainter(p, measure).paint(self.last_people_items)
            p.restore()
            p.end()
            return
        self.last_people_items = None
        layout = layout_overlay(
            overlay_content(self.state), area=_rect(area), bounds=_rect(QRectF(self.rect())),
            base=base_px(min(area.height(), self.height())), threshold=self.state.threshold, measure=measure,
            marking=recording_marking(self.state),
        )
        self._panel_rect = _qrect(layout.panel)
        QtPainter(p, measure).paint(layout.items)
        p.end()

    def _paint_placeholder(self, p: QPainter) -> None:
        status = self.state.status
        text = f"waiting for video from {self.state.source_label}…" if self.state.source_label else "no source"
        if status is not None and status.state in ("failed", "ended", "stopped") and status.message:
            text = status.message
        p.setPen(palette.MUTED)
        p.setFont(palette.scaled_font(self.font(), 15))
        p.drawText(self.rect().adjusted(20, 20, -20, -20), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
