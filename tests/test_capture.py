"""CaptureThread: stamps, preprocesses once into the ring buffer, publishes full frames, survives failures."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.errors import SourceError
from slowfast_core.stream.capture import CaptureThread, buffer_shape
from slowfast_core.video.preprocess import prepare_frame
from slowfast_core.stream.ringbuffer import RingBuffer
from slowfast_core.video.file_source import FileSource
from slowfast_core.video.synthetic import SyntheticSource

from helpers.events import EventLog
from helpers.media import write_clip


def start(source, *, short_side: int = 32, clock: str = "monotonic", capacity: int = 64, **kwargs):
    info = source.open()
    buffer = RingBuffer(capacity=capacity, frame_shape=buffer_shape(info.width, info.height, short_side))
    events = EventLog(keep_frames=True)
    capture = CaptureThread(source, buffer=buffer, short_side=short_side, clock=clock, on_frame=events.on_frame,
                            on_state=events.on_state, on_error=events.on_error, **kwargs)
    capture.start()
    return capture, buffer, events


def test_frames_are_stamped_resized_once_and_published_full_size() -> None:
    source = SyntheticSource(128, 96, 50)
    capture, buffer, events = start(source, short_side=48)
    events.wait_frames(10)
    capture.stop()
    capture.join(10)
    assert not capture.is_alive()
    packets = events.frame_list
    assert [p.index for p in packets] == list(range(len(packets)))
    stamps = [p.timestamp for p in packets]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert packets[0].image.shape == (96, 128, 3) and packets[0].source_fps == 50
    expected_bgr = source.render(source.frame_number(packets[3].image))
    np.testing.assert_array_equal(packets[3].image, cv2.cvtColor(expected_bgr, cv2.COLOR_BGR2RGB))  # RGB
    window = buffer.newest(len(buffer))
    assert window.frames.shape[1:] == (48, 64, 3)  # short side 48, resized once at capture
    number = source.frame_number(cv2.cvtColor(packets[int(window.indices[-1])].image, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(window.frames[-1], prepare_frame(source.render(number), 48))
    np.testing.assert_allclose(window.timestamps, [p.timestamp for p in packets[-len(window):]][: len(window)])
    stats = capture.stats()
    assert stats.frames_read == len(packets) and stats.frames_dropped == 0
    assert events.states[-1][0] == "stopped"


def test_end_of_file_is_an_event(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", [20 * i for i in range(9)], fps=30)
    capture, buffer, events = start(FileSource(clip, paced=False), clock="media")
    capture.join(60)
    assert not capture.is_alive()
    assert events.states[-1][0] == "ended" and not events.errors
    assert buffer.newest(20).timestamps.tolist() == pytest.approx([i / 30 for i in range(9)])  # media time


def test_drop_out_is_reported_and_reopened_with_back_off() -> None:
    source = SyntheticSource(96, 64, 50)
    capture, buffer, events = start(source, backoff=(0.05, 0.2))
    events.wait_frames(3)
    source.drop_out(None)  # an unplugged camera, until resume()
    events.wait(lambda: sum(s == "reopening" for s, _ in events.states) >= 3, what="three reopen attempts")
    before = events.frames
    source.resume()
    events.wait_frames(before + 5)
    capture.stop()
    capture.join(10)
    assert any("drop-out" in e.message and not e.fatal for e in events.errors)
    states = [s for s, _ in events.states]
    assert "reopening" in states and states.index("reopening") < len(states) - 1
    assert any(s == "running" and "reopened" in m for s, m in events.states)
    attempts = [m for s, m in events.states if s == "reopening"]
    assert [m.split("(")[-1] for m in attempts[:3]] == ["attempt 1)", "attempt 2)", "attempt 3)"]
    delays = [float(m.split(" in ")[1].split(" s ")[0]) for m in attempts[:4]]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.2][: len(delays)]  # exponential back-off up to its limit
    indices = [p.index for p in events.frame_list]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)  # running index continues


def test_stall_is_reported_and_recovery_noticed() -> None:
    source = SyntheticSource(96, 64, 50)
    capture, _, events = start(source, stall_timeout=0.2)
    events.wait_frames(3)
    source.stall(None)  # a frozen camera, until resume()
    # the engine's monitor calls check_stall(); `now` stands for the moment it looks
    assert capture.check_stall(now=capture.stats().last_arrival + 0.1) is False  # within stall_timeout: fine
    assert capture.state == "running" and not events.errors
    assert capture.check_stall(now=time.monotonic() + 1.0) is True  # a second without a frame: stalled
    assert capture.state == "stalled"
    assert any("stopped delivering" in e.message for e in events.errors)
    n = events.frames
    source.resume()
    events.wait_frames(n + 3)
    assert capture.state == "running"
    capture.stop()
    capture.join(10)
    assert any("again" in m for s, m in events.states if s == "running")


def test_stop_interrupts_a_stalled_source_promptly() -> None:
    source = SyntheticSource(96, 64, 30)
    capture, _, events = start(source)
    events.wait_frames(2)
    source.stall(None)
    t0 = time.monotonic()
    capture.stop()
    capture.join(10)
    assert not capture.is_alive() and time.monotonic() - t0 < 2.0  # the stop bound


def test_source_must_be_open() -> None:
    buffer = RingBuffer(capacity=4, frame_shape=(32, 48, 3))
    with pytest.raises(SourceError, match="opened"):
        CaptureThread(SyntheticSource(96, 64), buffer=buffer, short_side=32)


def test_capture_failure_reaches_subscribers() -> None:
    source = SyntheticSource(96, 64, 50)
    info = source.open()
    wrong = RingBuffer(capacity=8, frame_shape=(10, 10, 3))  # frames will not fit: a bug, reported
    events = EventLog()
    capture = CaptureThread(source, buffer=wrong, short_side=32, on_error=events.on_error, on_state=events.on_state)
    capture.start()
    capture.join(60)
    assert not capture.is_alive()
    assert events.errors and events.errors[0].fatal and events.errors[0].where == "capture"
    assert events.states[-1][0] == "failed"
    assert info.width == 96


def test_a_captured_and_recorded_frame_is_colour_converted_once(tmp_path: Path, monkeypatch) -> None:
    """BGR -> RGB once at capture (the model's small copy is resized from it, not converted again), and the
    session video gets the source's BGR frame as it is: no RGB -> BGR back (before: three conversions in our
    code, plus the encoder's own to YUV)."""
    from slowfast_core.sessions.folder import create_session
    from slowfast_core.sessions.segments import SegmentWriter

    calls: list[int] = []
    convert = cv2.cvtColor
    monkeypatch.setattr(cv2, "cvtColor", lambda image, code, *a: (calls.append(code), convert(image, code, *a))[1])
    source = SyntheticSource(128, 96, 50)
    capture, buffer, events = start(source, short_side=48)
    events.wait_frames(5)
    capture.stop()
    capture.join(10)
    packets = events.frame_list
    assert len(calls) == len(packets) or len(calls) == len(packets) + 1  # one per frame (+ one being read)
    assert set(calls) == {cv2.COLOR_BGR2RGB}
    packet = packets[2]
    assert packet.bgr is not None
    np.testing.assert_array_equal(packet.bgr[..., ::-1], packet.image)  # the same pixels, in both orders
    np.testing.assert_array_equal(buffer.newest(1).frames[-1].shape, (48, 64, 3))
    info = create_session(tmp_path, name="s", labels=["a"], source="synthetic", fps=50.0, width=128, height=96,
                          model="tiny", weights=None, program_version="test", segment_seconds=1.0, min_free_bytes=0)
    writer = SegmentWriter(info)
    calls.clear()
    writer.write(packet.bgr, packet.index, 0.0, order="bgr")
    assert calls == []  # written as the source gave it
    writer.write(packet.image, packet.index + 1, 0.02)  # only RGB at hand: converted once
    assert calls == [cv2.COLOR_RGB2BGR]
    writer.close()
