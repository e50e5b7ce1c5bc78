"""RingBuffer: fixed preallocated store, newest-N / last-S reads, no torn windows under a fast writer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from slowfast_core.errors import ConfigError
from slowfast_core.stream.ringbuffer import EXTRA_FRAMES, BufferClosed, RingBuffer

from helpers.waiting import wait_until

SHAPE = (8, 12, 3)


def frame_for(index: int) -> np.ndarray:
    """A frame that carries its index: every byte is index % 251, and the first row spells the index in bytes."""
    frame = np.full(SHAPE, index % 251, dtype=np.uint8)
    frame[0, :4, 0] = np.frombuffer(np.int32(index).tobytes(), dtype=np.uint8)
    return frame


def index_of(frame: np.ndarray) -> int:
    return int(np.frombuffer(frame[0, :4, 0].tobytes(), dtype=np.int32)[0])


def consistent(frame: np.ndarray) -> bool:
    """True when the whole frame belongs to one index (a torn copy mixes two)."""
    index = index_of(frame)
    body = frame.copy()
    body[0, :4, 0] = index % 251
    return bool(np.all(body == index % 251))


def fill(buffer: RingBuffer, count: int, fps: float = 30.0, start: int = 0) -> None:
    for i in range(start, start + count):
        buffer.write(frame_for(i), timestamp=i / fps, index=i)


def test_capacity_covers_window_and_margin() -> None:
    assert RingBuffer.capacity_for(fps=30, window_seconds=64 / 30, margin_seconds=1.0) == 64 + 30 + EXTRA_FRAMES
    assert RingBuffer.capacity_for(fps=15, window_seconds=64 / 30, margin_seconds=0.5) == 32 + 8 + EXTRA_FRAMES
    with pytest.raises(ConfigError):
        RingBuffer.capacity_for(fps=0, window_seconds=2.0)


def test_preallocated_and_bounded() -> None:
    buffer = RingBuffer(capacity=10, frame_shape=SHAPE)
    storage = buffer._frames
    assert buffer.nbytes == 10 * 8 * 12 * 3
    fill(buffer, 57)
    assert buffer._frames is storage and buffer.nbytes == 10 * 8 * 12 * 3  # never grows, never reallocated
    assert len(buffer) == 10 and buffer.written == 57


def test_newest_and_last_seconds_after_wraparound() -> None:
    buffer = RingBuffer(capacity=10, frame_shape=SHAPE)
    assert buffer.newest(3) is None
    fill(buffer, 25)
    newest = buffer.newest(4)
    assert newest is not None
    assert newest.indices.tolist() == [21, 22, 23, 24]
    assert [index_of(f) for f in newest.frames] == [21, 22, 23, 24]
    np.testing.assert_allclose(newest.timestamps, np.arange(21, 25) / 30)
    assert buffer.newest(100).indices.tolist() == list(range(15, 25))  # only what is buffered
    recent = buffer.last_seconds(0.1)  # 3 frame periods back from the newest, inclusive
    assert recent is not None and recent.indices.tolist() == [21, 22, 23, 24]
    assert buffer.span() == pytest.approx((15 / 30, 24 / 30))


def test_reads_are_copies() -> None:
    buffer = RingBuffer(capacity=4, frame_shape=SHAPE)
    fill(buffer, 4)
    window = buffer.newest(4)
    fill(buffer, 4, start=4)  # overwrite every slot
    assert [index_of(f) for f in window.frames] == [0, 1, 2, 3]


def test_rejects_bad_frames_and_time_going_back() -> None:
    buffer = RingBuffer(capacity=4, frame_shape=SHAPE)
    with pytest.raises(ConfigError):
        buffer.write(np.zeros((8, 13, 3), np.uint8), timestamp=0.0, index=0)
    with pytest.raises(ConfigError):
        buffer.write(np.zeros(SHAPE, np.float32), timestamp=0.0, index=0)
    buffer.write(frame_for(0), timestamp=1.0, index=0)
    with pytest.raises(ConfigError, match="must increase"):
        buffer.write(frame_for(1), timestamp=1.0, index=1)
    with pytest.raises(ConfigError):
        RingBuffer(capacity=1, frame_shape=SHAPE)


def test_no_torn_window_under_fast_writer_and_several_readers() -> None:
    buffer = RingBuffer(capacity=16, frame_shape=SHAPE)
    stop = threading.Event()
    problems: list[str] = []
    reads = [0, 0, 0]

    def writer() -> None:
        i = 0
        while not stop.is_set():
            buffer.write(frame_for(i), timestamp=i / 1000.0, index=i)
            i += 1

    def reader(slot: int, n: int) -> None:
        while not stop.is_set():
            window = buffer.newest(n) if slot != 2 else buffer.last_seconds(0.008)
            if window is None:
                continue
            reads[slot] += 1
            idx = window.indices
            if not np.all(np.diff(idx) == 1):
                problems.append(f"indices not consecutive: {idx.tolist()}")
            for frame, expected in zip(window.frames, idx):
                if index_of(frame) != expected or not consistent(frame):
                    problems.append(f"torn frame: expected {expected}, got {index_of(frame)}")
            np.testing.assert_allclose(window.timestamps, idx / 1000.0)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(k, n)) for k, n in ((0, 8), (1, 16), (2, 0))
    ]
    for t in threads:
        t.start()
    try:  # thousands of writes, each reader many windows while they happen (however long that takes here)
        wait_until(lambda: buffer.written >= 3000 and min(reads) >= 20 or bool(problems), timeout=120,
                   what="3000 writes and 20 reads per reader")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not problems, problems[:3]
    assert not any(t.is_alive() for t in threads)


def test_blocking_write_waits_for_held_frames() -> None:
    buffer = RingBuffer(capacity=4, frame_shape=SHAPE)
    buffer.hold_from(-np.inf)  # offline: keep everything until a reader releases it
    fill(buffer, 4)
    assert buffer.write(frame_for(4), timestamp=4 / 30, index=4, block=True, timeout=0.05) is False
    assert buffer.newest(4).indices.tolist() == [0, 1, 2, 3]  # nothing was overwritten
    done = threading.Event()

    def write() -> None:
        buffer.write(frame_for(4), timestamp=4 / 30, index=4, block=True, timeout=5)
        done.set()

    t = threading.Thread(target=write)
    t.start()
    assert not done.wait(0.1)  # given the time to write, it did not: it waits (a wait for nothing to happen)
    buffer.hold_from(1.5 / 30)  # frames 0 and 1 may go now
    assert done.wait(60)
    t.join()
    assert buffer.newest(4).indices.tolist() == [1, 2, 3, 4]


def test_close_wakes_waiters_and_stops_writes() -> None:
    buffer = RingBuffer(capacity=4, frame_shape=SHAPE)
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(buffer.wait_for_frame(0, timeout=60)))
    t.start()
    wait_until(lambda: len(buffer._cond._waiters) == 1, what="the reader to wait")  # CPython's Condition
    buffer.close()
    t.join(10)
    assert not t.is_alive() and result == [0]
    with pytest.raises(BufferClosed):
        buffer.write(frame_for(0), timestamp=0.0, index=0)
