"""Timelines: the live one (last ~30 s of predictions) and the band timelines the session replay uses.

A timeline is a row of coloured bands (one colour per class, see `palette.class_color`) on a time axis. The
live timeline adds a line per leading class showing its probability over time, with a small legend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import palette
from app.state import HISTORY_SECONDS, LiveState
from slowfast_core.stream.types import Prediction

MAX_LINES = 4  # leading classes drawn as probability lines


@dataclass(frozen=True)
class Band:
    """A stretch of time [start, end) (seconds) with one label (None: no action) and a strength in [0, 1]."""

    start: float
    end: float
    label: str | None
    strength: float = 1.0


def prediction_bands(predictions: Iterable[Prediction]) -> list[Band]:
    """Predictions as bands: each covers the time since the previous window's end; equal neighbours merge."""
    bands: list[Band] = []
    prev_end: float | None = None
    for p in predictions:
        start = p.start_time if prev_end is None else prev_end
        prev_end = max(p.end_time, prev_end if prev_end is not None else p.end_time)
        if p.end_time <= start:
            continue
        strength = float(p.confidence) if p.label is not None else 0.0
        if bands and bands[-1].label == p.label and abs(bands[-1].end - start) < 1e-6:
            last = bands[-1]
            bands[-1] = Band(last.start, p.end_time, p.label, max(last.strength, strength))
        else:
            bands.append(Band(start, p.end_time, p.label, strength))
    return bands


def leading_classes(predictions: Sequence[Prediction], limit: int = MAX_LINES) -> list[str]:
    """The classes with the highest peak top-k probability among `predictions`, best first."""
    best: dict[str, float] = {}
    for p in predictions:
        for name, prob in p.topk:
            if prob > best.get(name, -1.0):
                best[name] = prob
    return [name for name, _ in sorted(best.items(), key=lambda kv: -kv[1])[:limit]]


def paint_bands(p: QPainter, rect: QRectF, bands: Sequence[Band], t0: float, t1: float) -> None:
    """Draw `bands` clipped to [t0, t1] into `rect`, with the label written inside where it fits."""
    span = max(1e-6, t1 - t0)
    fm = QFontMetrics(p.font())
    p.save()
    p.setClipRect(rect)
    for b in bands:
        if b.end <= t0 or b.start >= t1:
            continue
        x0 = rect.left() + (max(b.start, t0) - t0) / span * rect.width()
        x1 = rect.left() + (min(b.end, t1) - t0) / span * rect.width()
        r = QRectF(x0, rect.top(), max(1.0, x1 - x0), rect.height())
        color = palette.class_color(b.label)
        if b.label is None:
            color.setAlpha(90)
        else:
            color.setAlpha(int(140 + 115 * min(1.0, max(0.0, b.strength))))
        p.fillRect(r, color)
        if b.label and r.width() > fm.horizontalAdvance("…") + 10:
            p.setPen(palette.TEXT)
            text = fm.elidedText(b.label, Qt.TextElideMode.ElideRight, int(r.width() - 6))
            p.drawText(r.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
    p.restore()


def paint_axis(p: QPainter, rect: QRectF, t0: float, t1: float, *, origin: float, live: bool) -> None:
    """Tick marks and labels along the bottom of `rect`: '-25 s'… for live views, '0:05'… for replays."""
    span = max(1e-6, t1 - t0)
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if span / s <= 8)
    p.save()
    p.setPen(palette.MUTED)
    fm = QFontMetrics(p.font())
    if live:
        ticks = [t1 - k * step for k in range(int(span // step) + 1)]
    else:
        first = origin + step * int(max(0.0, t0 - origin) // step)
        ticks = [first + k * step for k in range(int(span // step) + 2)]
    for t in ticks:
        if t < t0 - 1e-6 or t > t1 + 1e-6:
            continue
        x = rect.left() + (t - t0) / span * rect.width()
        p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.top() + 4))
        rel = t - t1 if live else t - origin
        text = "now" if live and abs(rel) < 1e-6 else (f"{rel:.0f} s" if live else f"{int(rel) // 60}:{int(rel) % 60:02d}")
        tw = fm.horizontalAdvance(text)
        tx = min(max(rect.left(), x - tw / 2), rect.right() - tw)
        p.drawText(QPointF(tx, rect.top() + 4 + fm.ascent()), text)
    p.restore()


class LiveTimeline(QWidget):
    """The last ~30 s: the smoothed label as bands, the leading classes' probabilities as lines."""

    def __init__(self, state: LiveState, parent: QWidget | None = None, *, seconds: float = HISTORY_SECONDS) -> None:
        super().__init__(parent)
        self.state = state
        self.seconds = seconds
        self.setMinimumHeight(118)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Last 30 s of predictions: bands show the smoothed action, lines the leading classes")
        state.predictionChanged.connect(self.update)
        state.modelChanged.connect(self.update)
        self._scroll = QTimer(self)
        self._scroll.setInterval(200)
        self._scroll.timeout.connect(self.update)
        self._scroll.start()

    def sizeHint(self) -> QSize:
        return QSize(800, 124)

    def visible_predictions(self) -> list[Prediction]:
        """The predictions whose windows end within the visible span."""
        t1 = self.state.now()
        return [p for p in self.state.history if p.end_time >= t1 - self.seconds]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), palette.BACKGROUND)
        font = palette.scaled_font(self.font(), 11)
        p.setFont(font)
        fm = QFontMetrics(font)
        t1 = self.state.now()
        t0 = t1 - self.seconds
        left, right = 8.0, self.width() - 8.0
        band_rect = QRectF(left, 6, right - left, 20)
        axis_h = fm.height() + 6
        legend_rect = QRectF(left, band_rect.bottom() + 3, right - left, fm.height() + 4)
        lines_top = legend_rect.bottom() + 3
        lines_rect = QRectF(left, lines_top, right - left, self.height() - lines_top - 4 - axis_h)
        p.fillRect(band_rect, QColor(255, 255, 255, 14))
        p.fillRect(lines_rect, QColor(255, 255, 255, 8))
        preds = self.visible_predictions()
        paint_bands(p, band_rect, prediction_bands(preds), t0, t1)
        if not preds:
            p.setPen(palette.MUTED)
            p.drawText(lines_rect, Qt.AlignmentFlag.AlignCenter, "predictions of the last 30 s appear here")
        else:
            self._paint_lines(p, lines_rect, legend_rect, preds, t0, t1)
        paint_axis(p, QRectF(left, self.height() - axis_h - 2, right - left, axis_h), t0, t1, origin=t0, live=True)
        p.end()

    def _paint_lines(self, p: QPainter, rect: QRectF, legend: QRectF, preds: Sequence[Prediction], t0: float,
                     t1: float) -> None:
        span = max(1e-6, t1 - t0)
        # threshold guide
        ty = rect.bottom() - self.state.threshold * rect.height()
        p.setPen(QPen(QColor(255, 255, 255, 60), 1, Qt.PenStyle.DashLine))
        p.drawLine(QPointF(rect.left(), ty), QPointF(rect.right(), ty))
        names = leading_classes(preds)
        fm = QFontMetrics(p.font())
        for name in reversed(names):
            color = palette.class_color(name)
            path = QPainterPath()
            started = False
            for pred in preds:
                prob = dict(pred.topk).get(name, 0.0)
                x = rect.left() + (pred.end_time - t0) / span * rect.width()
                y = rect.bottom() - min(1.0, prob) * rect.height()
                if started:
                    path.lineTo(x, y)
                else:
                    path.moveTo(x, y)
                    started = True
            p.setPen(QPen(color, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        # legend on its own strip between the bands and the lines, right-aligned: never over a line
        legend_x = legend.right()
        for name in reversed(names):
            text = fm.elidedText(name, Qt.TextElideMode.ElideRight, 160)
            w = fm.horizontalAdvance(text) + 18
            legend_x -= w + 8
            if legend_x < legend.left():
                break
            box = QRectF(legend_x, legend.top(), w, legend.height())
            p.fillRect(QRectF(box.left() + 2, box.center().y() - 1.5, 10, 3), palette.class_color(name))
            p.setPen(palette.TEXT)
            p.drawText(box.adjusted(16, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)


class BandTimeline(QWidget):
    """A titled row of bands over a fixed time range, with a playback cursor; clicking seeks (replay view)."""

    seekRequested = Signal(float)  # seconds since `origin`

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.bands: list[Band] = []
        self.t0, self.t1, self.origin = 0.0, 1.0, 0.0
        self.cursor: float | None = None
        self.setMinimumHeight(46)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(600, 50)

    def set_bands(self, bands: Sequence[Band], t0: float, t1: float, *, origin: float | None = None) -> None:
        """Show `bands` over [t0, t1] (axis labels count from `origin`, default t0)."""
        self.bands = list(bands)
        self.t0, self.t1 = t0, max(t1, t0 + 1e-3)
        self.origin = t0 if origin is None else origin
        self.update()

    def set_cursor(self, t: float | None) -> None:
        """Draw the playback cursor at time `t` (same clock as the bands), or hide it."""
        self.cursor = t
        self.update()

    def _track_rect(self) -> QRectF:
        fm = QFontMetrics(palette.scaled_font(self.font(), 11))
        return QRectF(96, 4, max(10.0, self.width() - 104), self.height() - fm.height() - 12)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        r = self._track_rect()
        if r.width() > 0 and r.left() <= event.position().x() <= r.right():
            t = self.t0 + (event.position().x() - r.left()) / r.width() * (self.t1 - self.t0)
            self.seekRequested.emit(t - self.origin)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), palette.BACKGROUND)
        font = palette.scaled_font(self.font(), 11)
        p.setFont(font)
        fm = QFontMetrics(font)
        track = self._track_rect()
        p.setPen(palette.TEXT)
        p.drawText(QRectF(6, track.top(), 86, track.height()), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(self.title, Qt.TextElideMode.ElideRight, 86))
        p.fillRect(track, QColor(255, 255, 255, 14))
        paint_bands(p, track, self.bands, self.t0, self.t1)
        paint_axis(p, QRectF(track.left(), track.bottom() + 2, track.width(), fm.height() + 6), self.t0, self.t1,
                   origin=self.origin, live=False)
        if self.cursor is not None and self.t0 <= self.cursor <= self.t1:
            x = track.left() + (self.cursor - self.t0) / (self.t1 - self.t0) * track.width()
            p.setPen(QPen(palette.TEXT, 2))
            p.drawLine(QPointF(x, track.top() - 2), QPointF(x, track.bottom() + 2))
        p.end()
