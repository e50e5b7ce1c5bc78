"""Window scheduler: one sampling path (the shared window cutter), latest-only live windows, exact offline windows."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.model import get_config
from slowfast_core.video.windows import window_end_times
from slowfast_core.spec import ClipGeometry
from slowfast_core.stream.scheduler import SPAN_TOLERANCE_FRAMES, LiveWindow, WindowScheduler, cut_live_window
from slowfast_core.stream.worker import END_OF_STREAM, LatestSlot
from slowfast_core.stream.capture import CaptureThread, buffer_shape
from slowfast_core.stream.ringbuffer import RingBuffer
from slowfast_core.video.sampling import sample_window
from slowfast_core.video.file_source import FileSource
from slowfast_core.video.synthetic import SyntheticSource

from helpers.media import write_clip
from helpers.waiting import wait_until

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
    window = cut_live_window(buffer, end, geometry, window_id=7)
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


@dataclass(frozen=True)
class Taken:
    """A window as the consumer got it: when the consumer became free (monotonic) and the window."""

    free_since: float
    window: LiveWindow


def run_live(fps: float, *, stride_s: float, windows: int, busy_frames: int = 0,
             stride_frames: int | None = None) -> tuple[WindowScheduler, list[Taken]]:
    """Run capture -> scheduler -> a consumer until the consumer took `windows` windows, then stop the producers
    and let the consumer take whatever is left, so that every window cut was taken (in order).

    busy_frames: after each window the consumer stays busy until that many more frames were captured, a
    stand-in for a slow inference (measured in frames, so however slow this machine is, strides pass).
    """
    capture, scheduler, slot = live_chain(fps, stride_s=stride_s)
    if stride_frames is not None:
        scheduler.set_stride(stride_frames=stride_frames)
    taken: list[Taken] = []
    enough = threading.Event()
    stop = threading.Event()

    def consume() -> None:
        free_since = time.monotonic()
        while not stop.is_set():
            item = slot.take(timeout=0.1)
            if isinstance(item, LiveWindow):
                taken.append(Taken(free_since, item))
                if len(taken) >= windows:
                    enough.set()
                if busy_frames:
                    target = capture.buffer.written + busy_frames
                    wait_until(lambda: capture.buffer.written >= target or capture.stopping,
                               what="frames while the consumer is busy")
                free_since = time.monotonic()

    consumer = threading.Thread(target=consume, name="test-consumer")
    consumer.start()
    scheduler.start()
    capture.start()
    try:
        assert enough.wait(120), f"only {len(taken)} windows in 120 s"
    finally:
        capture.stop()
        scheduler.stop()
        for t in (capture, scheduler):
            t.join(10)
            assert not t.is_alive()
        wait_until(lambda: slot.consumer_waiting, timeout=60, what="the consumer to take the last window")
        stop.set()
        consumer.join(10)
        assert not consumer.is_alive()
    assert [t.window.id for t in taken] == list(range(scheduler.windows_cut))  # every window cut was taken
    return scheduler, taken


def stale_between(ends: np.ndarray, stride_s: float, fps: float) -> int:
    """Windows that went stale between consecutive cuts, by the scheduler's rule: each further stride that
    passed (in frame time, half a frame of tolerance) after the window that was due."""
    tolerance = SPAN_TOLERANCE_FRAMES / fps
    return sum(max(0, math.floor((b - (a + stride_s) + tolerance) / stride_s)) for a, b in zip(ends, ends[1:]))


def test_latest_windows_skip_stale_ones_under_a_slow_consumer() -> None:
    scheduler, taken = run_live(50.0, stride_s=0.1, windows=4, busy_frames=18)  # busy for ~3.5 strides
    ends = np.array([t.window.end_time for t in taken])
    assert np.all(np.diff(ends) > 0)  # newer frames each time
    for t in taken[1:]:
        assert t.window.created >= t.free_since  # cut once the consumer was free: never queued while it was busy
        assert t.window.end_time - t.window.start_time == pytest.approx(7 / 30, abs=0.02)
    # the strides that passed while it was busy were counted as stale windows, and dropped
    assert scheduler.windows_stale == stale_between(ends, 0.1, 50.0) >= 1


def test_latest_windows_follow_the_stride_when_the_consumer_keeps_up() -> None:
    scheduler, taken = run_live(50.0, stride_s=0.2, windows=5)
    ends = np.array([t.window.end_time for t in taken])
    first = taken[0].window
    assert first.end_time - first.start_time >= 7 / 30 - 0.03  # waited for a full window
    assert np.all(np.diff(ends) >= 0.2 - SPAN_TOLERANCE_FRAMES / 50.0)  # never sooner than the stride
    # a window is due every stride: any stride it did not cut in (a busy machine) is counted stale, none lost
    assert scheduler.windows_stale == stale_between(ends, 0.2, 50.0)


def test_offline_windows_are_those_of_predict_and_nothing_is_lost(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", [6 * i for i in range(40)], fps=25)
    source = FileSource(clip, paced=False)
    info = source.open()
    buffer = RingBuffer(capacity=RingBuffer.capacity_for(fps=25, window_seconds=SMALL.window_seconds,
                                                         margin_seconds=0.0),
                        frame_shape=buffer_shape(info.width, info.height, 32))  # small: the writer must wait
    slot: LatestSlot = LatestSlot()
    scheduler = WindowScheduler(buffer=buffer, geometry=SMALL, slot=slot, fps=25, stride_s=0.15, mode="every")
    capture = CaptureThread(source, buffer=buffer, short_side=32, clock="media",
                            on_state=lambda s, m: (scheduler.source_ended(), buffer.close()) if s == "ended" else None)
    windows: list[LiveWindow] = []
    finished = threading.Event()

    def slow_worker() -> None:
        while not finished.is_set():
            item = slot.take(timeout=1)
            if item is END_OF_STREAM:
                finished.set()
            elif item is not None:
                windows.append(item)
                time.sleep(0.02)  # a worker slower than decoding: the capture must wait for it (under test)

    worker = threading.Thread(target=slow_worker)
    worker.start()
    scheduler.start()
    capture.start()
    assert finished.wait(120)
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
    _, taken = run_live(50.0, stride_s=1.0, windows=4, stride_frames=6)  # every 6 frames, whatever their timing
    last = np.array([t.window.last_index for t in taken])
    assert np.all(np.diff(last) >= 6)


def test_a_closed_slot_is_not_counted_as_delivered() -> None:
    """A window put into a closed slot reached no worker: it is not counted as cut (was: put returned None,
    read as delivered, so windows_cut grew with every window of the file)."""
    buffer = RingBuffer(capacity=64, frame_shape=SHAPE)
    for i in range(40):
        buffer.write(indexed(i), timestamp=i / 30, index=i)
    slot: LatestSlot = LatestSlot()
    slot.close()
    scheduler = WindowScheduler(buffer=buffer, geometry=SMALL, slot=slot, fps=30.0, stride_s=0.1, mode="every")
    scheduler.source_ended()
    scheduler.start()
    scheduler.join(10)
    assert not scheduler.is_alive()
    assert scheduler.windows_cut == 0
    assert slot.put("x") is False


# --- padded first windows (issue 25: the first prediction needs the model, not a whole window of video) --------
EIGHT = get_config("slowfast_8x8_r50").geometry  # 64 frames at 30 fps: a 2.13 s window


class Consumer:
    """A worker stand-in that takes every window handed over, until END_OF_STREAM or `close`."""

    def __init__(self, slot: LatestSlot) -> None:
        self.slot, self.windows, self.ended = slot, [], threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-consumer")
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self.slot.take(timeout=0.05)
            if item is END_OF_STREAM:
                self.ended.set()
            elif isinstance(item, LiveWindow):
                self.windows.append(item)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def write_frames(buffer: RingBuffer, frames: range) -> None:
    for i in frames:
        buffer.write(indexed(i), timestamp=i / 30, index=i)


def test_padded_windows_come_first_then_full_ones() -> None:
    buffer = RingBuffer(capacity=RingBuffer.capacity_for(fps=30.0, window_seconds=EIGHT.window_seconds),
                        frame_shape=SHAPE)
    slot: LatestSlot = LatestSlot()
    consumer = Consumer(slot)
    scheduler = WindowScheduler(buffer=buffer, geometry=EIGHT, slot=slot, fps=30.0, stride_s=0.1, partial=True)
    scheduler.start()
    try:
        write_frames(buffer, range(0, 20))  # 0.67 s: more than a quarter of the window, far from all of it
        wait_until(lambda: consumer.windows, what="a padded window before the buffer covers a window")
        first = consumer.windows[0]
        assert first.padded and first.first_index == 0 and 15 <= first.last_index <= 19
        assert first.end_time - first.start_time == pytest.approx(63 / 30)  # the window's span, not the video's
        oldest = [first.frames[p][0, 0, 0, 0] for p in first.pathway_indices]
        assert all(o == 0 for o in oldest)  # the oldest frame repeated back to the window's start
        write_frames(buffer, range(20, 100))
        wait_until(lambda: any(w.last_index >= 70 for w in consumer.windows), what="a full window")
    finally:
        scheduler.stop()
        scheduler.join(10)
        consumer.close()
    for w in consumer.windows:  # padded exactly while the buffer did not reach back to the window's start
        assert w.padded == (w.last_index < 62), (w.first_index, w.last_index, w.padded)
    assert not consumer.windows[-1].padded


@pytest.mark.parametrize("partial", [True, False])
def test_a_stream_shorter_than_a_window_gets_one_padded_window_at_its_end(partial: bool) -> None:
    """A short live clip ends before any window was cut (the worker was still starting): with padded windows on,
    the scheduler hands over one window of what there is, as `slowfast predict` pads a short clip."""
    buffer = RingBuffer(capacity=RingBuffer.capacity_for(fps=30.0, window_seconds=EIGHT.window_seconds),
                        frame_shape=SHAPE)
    write_frames(buffer, range(0, 30))  # 1 s, written before any consumer waits: nothing can be cut yet
    slot: LatestSlot = LatestSlot()
    scheduler = WindowScheduler(buffer=buffer, geometry=EIGHT, slot=slot, fps=30.0, stride_s=0.1, partial=partial)
    scheduler.source_ended()
    scheduler.start()
    consumer = Consumer(slot)
    try:
        assert consumer.ended.wait(30)
    finally:
        scheduler.join(10)
        consumer.close()
    if partial:
        assert [(w.padded, w.first_index, w.last_index) for w in consumer.windows] == [(True, 0, 29)]
    else:
        assert consumer.windows == []
