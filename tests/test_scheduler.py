"""Window scheduler: one sampling path (sample_window), latest-only live windows, exact offline windows."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.model import get_config
from slowfast_core.predict import window_end_times
from slowfast_core.spec import ClipGeometry
from slowfast_core.stream.scheduler import Window, WindowScheduler, cut_window
from slowfast_core.stream.worker import END_OF_STREAM, LatestSlot
from slowfast_core.video.capture import CaptureThread, buffer_shape
from slowfast_core.video.ringbuffer import RingBuffer
from slowfast_core.video.sampling import sample_window
from slowfast_core.video.sources import FileSource, SyntheticSource

SHAPE = (4, 4, 3)
SMALL = ClipGeometry(slow_frames=2, tau=4, alpha=2)  # 8 frames at 30 fps: a 0.27 s window


def indexed(i: int) -> np.ndarray:
    """A frame whose every byte encodes its index (mod 256)."""
    return np.full(SHAPE, i % 256, np.uint8)


@pytest.mark.parametrize("fps", [15.0, 25.0, 30.0, 60.0])
def test_cut_window_samples_by_time_through_sample_window(fps: float) -> None:
    geometry = get_config("slowfast_8x8_r50").geometry
    buffer = RingBuffer(capacity=RingBuffer.capacity_for(fps=fps, window_seconds=geometry.window_seconds),
                        frame_shape=SHAPE)
    total = int(4 * fps)
    for i in range(total):
        buffer.write(indexed(i), timestamp=50.0 + i / fps, index=i)
    end = 50.0 + (total - 1) / fps
    window = cut_window(buffer, end, geometry, window_id=7)
    assert window is not None and window.id == 7
    stamps, indices = buffer.stamps()
    expected = [indices[p] for p in sample_window(stamps, end, geometry)]
    got = [window.frames[p][:, 0, 0, 0].astype(int) for p in window.pathway_indices]
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e % 256)
    assert [len(p) for p in window.pathway_indices] == [8, 32]
    assert len(window.frames) == len(np.unique(np.concatenate(expected)))  # each frame copied once
    assert window.last_index == total - 1 and window.end_time == end
    span = window.end_time - window.start_time
    assert span == pytest.approx(63 / 30, abs=0.5 / fps + 1e-6)  # the trained span, whatever the rate
    if fps == 30.0:  # one to one: the anchors' linspace over the last 64 frames
        fast = np.linspace(0, 63, 32).astype(int) + total - 64
        np.testing.assert_array_equal(got[1], fast % 256)
        np.testing.assert_array_equal(got[0], fast[np.linspace(0, 31, 8).astype(int)] % 256)


def live_chain(fps: float, *, stride_s: float, capacity_margin: float = 1.0):
    source = SyntheticSource(96, 64, fps)
    info = source.open()
    buffer = RingBuffer(capacity=RingBuffer.capacity_for(fps=fps, window_seconds=SMALL.window_seconds,
                                                         margin_seconds=capacity_margin),
                        frame_shape=buffer_shape(info.width, info.height, 32))
    slot: LatestSlot = LatestSlot()
    capture = CaptureThread(source, buffer=buffer, short_side=32)
    scheduler = WindowScheduler(buffer=buffer, geometry=SMALL, slot=slot, fps=fps, stride_s=stride_s)
    return capture, scheduler, slot


def consume(slot: LatestSlot, stop: threading.Event, busy_s: float, out: list) -> None:
    """A stand-in for a slow inference worker: takes each window, notes when, stays busy."""
    while not stop.is_set():
        item = slot.take(timeout=0.1)
        if isinstance(item, Window):
            out.append((time.monotonic(), item))
            time.sleep(busy_s)


def test_latest_windows_skip_stale_ones_under_a_slow_consumer() -> None:
    capture, scheduler, slot = live_chain(50.0, stride_s=0.1)
    taken: list[tuple[float, Window]] = []
    stop = threading.Event()
    consumer = threading.Thread(target=consume, args=(slot, stop, 0.35, taken))
    consumer.start()
    scheduler.start()
    capture.start()
    time.sleep(2.5)
    capture.stop()
    scheduler.stop()
    stop.set()
    for t in (capture, scheduler, consumer):
        t.join(2)
        assert not t.is_alive()
    assert len(taken) >= 3
    assert scheduler.windows_stale >= 2 * (len(taken) - 1)  # ~3 strides pass per busy period
    ends = [w.end_time for _, w in taken]
    assert all(b - a >= 0.3 for a, b in zip(ends, ends[1:]))  # never a backlog of old windows
    for when, window in taken[1:]:
        assert when - window.created < 0.15  # handed over fresh, not queued
        assert window.end_time - window.start_time == pytest.approx(7 / 30, abs=0.02)


def test_latest_windows_follow_the_stride_when_the_consumer_keeps_up() -> None:
    capture, scheduler, slot = live_chain(50.0, stride_s=0.2)
    taken: list[tuple[float, Window]] = []
    stop = threading.Event()
    consumer = threading.Thread(target=consume, args=(slot, stop, 0.0, taken))
    consumer.start()
    scheduler.start()
    capture.start()
    time.sleep(1.6)
    capture.stop()
    scheduler.stop()
    stop.set()
    for t in (capture, scheduler, consumer):
        t.join(2)
    ends = np.array([w.end_time for _, w in taken])
    assert len(ends) >= 4 and scheduler.windows_stale == 0
    first_frames = taken[0][1]
    assert first_frames.end_time - first_frames.start_time >= 7 / 30 - 0.03  # waited for a full window
    assert np.all(np.diff(ends) >= 0.2 - 0.011)  # a window every stride, cut at the first frame due
    assert np.mean(np.diff(ends)) == pytest.approx(0.2, abs=0.03)


def test_offline_windows_are_those_of_predict_and_nothing_is_lost(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), i * 6, np.uint8))
    writer.release()
    source = FileSource(clip, paced=False)
    info = source.open()
    buffer = RingBuffer(capacity=RingBuffer.capacity_for(fps=25, window_seconds=SMALL.window_seconds,
                                                         margin_seconds=0.0),
                        frame_shape=buffer_shape(info.width, info.height, 32))  # small: the writer must wait
    slot: LatestSlot = LatestSlot()
    scheduler = WindowScheduler(buffer=buffer, geometry=SMALL, slot=slot, fps=25, stride_s=0.15, mode="every")
    capture = CaptureThread(source, buffer=buffer, short_side=32, clock="media",
                            on_state=lambda s, m: (scheduler.source_ended(), buffer.close()) if s == "ended" else None)
    windows: list[Window] = []
    finished = threading.Event()

    def slow_worker() -> None:
        while not finished.is_set():
            item = slot.take(timeout=1)
            if item is END_OF_STREAM:
                finished.set()
            elif item is not None:
                windows.append(item)
                time.sleep(0.02)

    worker = threading.Thread(target=slow_worker)
    worker.start()
    scheduler.start()
    capture.start()
    assert finished.wait(10)
    for t in (capture, scheduler, worker):
        t.join(2)
    assert capture.stats().frames_read == 40
    expected = window_end_times(np.arange(40) / 25, SMALL, 0.15)
    np.testing.assert_allclose([w.end_time for w in windows], expected)
    assert [w.id for w in windows] == list(range(len(expected)))
    for w in windows:  # each window's frames are the ones sample_window picks over the whole file
        want = [np.arange(40)[p] for p in sample_window(np.arange(40) / 25, w.end_time, SMALL)]
        for p, idx in zip(w.pathway_indices, want):
            levels = w.frames[p].reshape(len(p), -1).mean(axis=1)
            np.testing.assert_allclose(levels, idx * 6, atol=4)


def test_stride_in_frames() -> None:
    capture, scheduler, slot = live_chain(50.0, stride_s=1.0)
    scheduler.set_stride(stride_frames=6)  # every 6 frames, whatever their timing
    taken: list[tuple[float, Window]] = []
    stop = threading.Event()
    consumer = threading.Thread(target=consume, args=(slot, stop, 0.0, taken))
    consumer.start()
    scheduler.start()
    capture.start()
    time.sleep(1.2)
    capture.stop()
    scheduler.stop()
    stop.set()
    for t in (capture, scheduler, consumer):
        t.join(2)
    last = np.array([w.last_index for _, w in taken])
    assert len(last) >= 4
    assert np.all(np.diff(last) >= 6) and np.median(np.diff(last)) == 6
