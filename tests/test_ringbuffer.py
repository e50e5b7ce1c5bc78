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


# --- exact values and messages (no threads) ----------------------------------------------------------------------
def test_bad_configuration_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"^ring buffer capacity must be at least 2 frames, got 1$"):
        RingBuffer(capacity=1, frame_shape=SHAPE)
    RingBuffer(capacity=2, frame_shape=(1, 1, 3))  # the smallest there is
    for shape in ((8, 12), (8, 12, 4), (0, 12, 3), (8, 0, 3)):
        with pytest.raises(ConfigError, match=r"^ring buffer frames must be \(H, W, 3\), got "):
            RingBuffer(capacity=4, frame_shape=shape)
    for kw in ({"fps": -1, "window_seconds": 1.0}, {"fps": 30, "window_seconds": 0.0},
               {"fps": 30, "window_seconds": 1.0, "margin_seconds": -0.1}):
        with pytest.raises(ConfigError, match="^cannot size a ring buffer for "):
            RingBuffer.capacity_for(**kw)
    assert RingBuffer.capacity_for(fps=30, window_seconds=1.0, margin_seconds=0.0) == 30 + EXTRA_FRAMES
    assert RingBuffer.capacity_for(fps=30, window_seconds=1.0) == 60 + EXTRA_FRAMES  # a 1 s margin by default
    assert RingBuffer.capacity_for(fps=10, window_seconds=0.25, margin_seconds=0.0) == 3 + EXTRA_FRAMES  # rounds up
    assert EXTRA_FRAMES == 4


def test_a_frame_that_does_not_fit_or_goes_back_says_so() -> None:
    buffer = RingBuffer(capacity=4, frame_shape=SHAPE)
    with pytest.raises(ConfigError, match=r"^frame \(8, 12, 3\) float32 does not fit the ring buffer's \(8, 12, 3\) "
                                          r"uint8$"):
        buffer.write(np.zeros(SHAPE, np.float32), timestamp=0.0, index=0)
    with pytest.raises(ConfigError, match="does not fit"):
        buffer.write(np.zeros((8, 11, 3), np.uint8), timestamp=0.0, index=0)
    buffer.write(frame_for(5), timestamp=1.0, index=5)
    with pytest.raises(ConfigError, match=r"^frame 6 at 1\.000000 s is not after frame 5 at 1\.000000 s: timestamps "
                                          "and indices must increase$"):
        buffer.write(frame_for(6), timestamp=1.0, index=6)
    with pytest.raises(ConfigError, match=r"^frame 5 at 2\.000000 s is not after frame 5"):
        buffer.write(frame_for(5), timestamp=2.0, index=5)
    assert buffer.written == 1


def test_every_read_of_a_wrapped_buffer() -> None:
    buffer = RingBuffer(capacity=4, frame_shape=SHAPE)
    assert buffer.span() is None and buffer.timestamps().shape == (0,) and len(buffer) == 0
    assert buffer.last_seconds(1.0) is None and buffer.take(lambda ts: np.arange(len(ts))) is None
    for i in range(6):
        buffer.write(frame_for(i), timestamp=0.5 * i, index=10 + i, arrival=100.0 + i)
    assert len(buffer) == 4 and buffer.written == 6 and buffer.span() == (1.0, 2.5)
    assert buffer.timestamps().tolist() == [1.0, 1.5, 2.0, 2.5]
    ts, idx = buffer.stamps()
    assert ts.tolist() == [1.0, 1.5, 2.0, 2.5] and idx.tolist() == [12, 13, 14, 15]
    window = buffer.take(lambda stamps: np.flatnonzero(stamps >= 1.5)[::2])
    assert window.indices.tolist() == [13, 15] and window.arrivals.tolist() == [103.0, 105.0]
    assert [index_of(f) for f in window.frames] == [3, 5] and window.timestamps.tolist() == [1.5, 2.5]
    assert buffer.newest(1).indices.tolist() == [15] and buffer.newest(9).indices.tolist() == [12, 13, 14, 15]
    assert buffer.last_seconds(1.0).indices.tolist() == [13, 14, 15]  # inclusive: 1.5 is exactly 1 s back
    assert buffer.last_seconds(0.0).indices.tolist() == [15]
    with pytest.raises(ConfigError, match="^ask for at least one frame, got 0$"):
        buffer.newest(0)
    with pytest.raises(ConfigError, match="^ask for a non-negative duration, got -1$"):
        buffer.last_seconds(-1)
    assert buffer.wait_for_frame(5, timeout=0) == 6  # already more than 5: no wait
    assert buffer.wait_for_frame(6, timeout=0.01) == 6  # nothing comes: the wait ends at its timeout


def test_a_partly_filled_buffer_reads_what_was_written() -> None:
    buffer = RingBuffer(capacity=5, frame_shape=SHAPE)
    fill(buffer, 2)
    assert buffer.newest(5).indices.tolist() == [0, 1] and buffer.timestamps().tolist() == [0.0, 1 / 30]
    assert buffer.span() == (0.0, 1 / 30) and len(buffer) == 2


def test_a_blocking_write_without_a_hold_never_waits_and_a_live_write_ignores_the_hold() -> None:
    buffer = RingBuffer(capacity=2, frame_shape=SHAPE)
    fill(buffer, 2)
    assert buffer.write(frame_for(2), timestamp=2 / 30, index=2, block=True, timeout=0)
    assert buffer.newest(2).indices.tolist() == [1, 2]
    buffer.hold_from(-np.inf)  # hold everything: only blocking writes respect it
    assert buffer.write(frame_for(3), timestamp=3 / 30, index=3)  # live capture never blocks
    assert buffer.newest(2).indices.tolist() == [2, 3]
    assert RingBuffer.capacity_for(fps=0.5, window_seconds=4.0, margin_seconds=0.0) == 2 + EXTRA_FRAMES  # slow


def test_an_arrival_defaults_to_now() -> None:
    import time

    buffer = RingBuffer(capacity=2, frame_shape=SHAPE)
    before = time.monotonic()
    buffer.write(frame_for(0), timestamp=0.0, index=0)
    (arrival,) = buffer.newest(1).arrivals
    assert before <= arrival <= time.monotonic()


def test_holding_frees_slots_by_time_and_none_holds_nothing() -> None:
    buffer = RingBuffer(capacity=2, frame_shape=SHAPE)
    buffer.hold_from(0.0)  # keep frames stamped at or after 0
    assert buffer.write(frame_for(0), timestamp=0.0, index=0, block=True, timeout=0)  # not full: never waits
    assert buffer.write(frame_for(1), timestamp=1.0, index=1, block=True, timeout=0)
    assert not buffer.write(frame_for(2), timestamp=2.0, index=2, block=True, timeout=0)  # frame 0 is held
    buffer.hold_from(0.5)  # frame 0 (at 0 s) may go
    assert buffer.write(frame_for(2), timestamp=2.0, index=2, block=True, timeout=0)
    assert not buffer.write(frame_for(3), timestamp=3.0, index=3, block=True, timeout=0)  # frame 1 at 1.0 >= 0.5
    buffer.hold_from(1.0)
    assert not buffer.write(frame_for(3), timestamp=3.0, index=3, block=True, timeout=0)  # at or after: still held
    buffer.hold_from(None)
    assert buffer.write(frame_for(3), timestamp=3.0, index=3, block=True, timeout=0)
    assert buffer.write(frame_for(4), timestamp=4.0, index=4)  # a live write never waits
    assert buffer.newest(2).indices.tolist() == [3, 4]
    buffer.close()
    assert buffer.closed
    with pytest.raises(BufferClosed, match="^ring buffer is closed$"):
        buffer.write(frame_for(5), timestamp=5.0, index=5, block=True, timeout=0)
    assert buffer.newest(2).indices.tolist() == [3, 4]  # reads still return what is buffered


def test_closing_ends_a_blocking_write_that_waits() -> None:
    buffer = RingBuffer(capacity=2, frame_shape=SHAPE)
    buffer.hold_from(-np.inf)
    fill(buffer, 2)
    raised: list[BaseException] = []

    def write() -> None:
        try:
            buffer.write(frame_for(2), timestamp=2 / 30, index=2, block=True, timeout=60)
        except BufferClosed as exc:
            raised.append(exc)

    t = threading.Thread(target=write)
    t.start()
    wait_until(lambda: len(buffer._cond._waiters) == 1, what="the writer to wait")  # CPython's Condition
    buffer.close()
    t.join(10)
    assert not t.is_alive() and [str(e) for e in raised] == ["ring buffer is closed"]
