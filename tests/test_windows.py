"""THE window cutter's clock and cut (video/windows.py) as pure functions: strides, spans, when windows are due,
the short-clip and tail windows, and the frames one window copies. Values worked out here by hand."""

from __future__ import annotations

import numpy as np
import pytest

from slowfast_core.errors import ConfigError
from slowfast_core.spec import ClipGeometry
from slowfast_core.video.windows import (
    TIME_EPS,
    WindowClock,
    cut_window,
    default_stride,
    parse_stride,
    window_end_times,
    window_lead,
    window_positions,
    window_span,
)

G = ClipGeometry(slow_frames=4, tau=4, alpha=2)  # 16 grid frames (16/30 s), Fast 8, Slow 4


@pytest.mark.parametrize("text,seconds", [("16f", 16 / 30), ("0.5s", 0.5), ("0.5", 0.5), (" 2 ", 2.0),
                                          (".25", 0.25), ("1e-1s", 0.1), ("3E0", 3.0), ("30f", 1.0)])
def test_parse_stride(text: str, seconds: float) -> None:
    assert parse_stride(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0", "0f", "-1", "fast", "1x", "", "s", "1 s s", "nan", "1e999"])
def test_a_bad_stride_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ConfigError, match=f"stride {text!r} is not valid: use seconds like 0.5"):
        parse_stride(text)


def test_lead_span_and_default_stride() -> None:
    assert window_lead(G) == pytest.approx(15 / 30)
    assert window_span(2.0, G) == pytest.approx((2.0 - 15 / 30, 2.0 + 1 / 30))
    assert default_stride(G) == pytest.approx(8 / 30) and default_stride(ClipGeometry(8, 8, 4)) == pytest.approx(
        32 / 30)


def test_the_clock_hands_out_windows_as_frames_complete_them() -> None:
    clock = WindowClock(geometry=G, stride=0.25, start_time=10.0)
    assert clock.first_end == pytest.approx(10.5) and clock.next_start == pytest.approx(10.0)
    assert clock.due(10.49) == [] and clock.count == 0
    assert clock.due(10.5 - TIME_EPS / 2) == [pytest.approx(10.5)]  # float slack: due at its instant
    assert clock.due(11.3) == [pytest.approx(10.75), pytest.approx(11.0), pytest.approx(11.25)]
    assert clock.count == 4 and clock.next_end == pytest.approx(11.5)
    assert clock.next_start == pytest.approx(11.0)
    assert clock.due(11.3) == []  # nothing twice


@pytest.mark.parametrize("stride", [0, -0.1, float("nan")])
def test_the_clock_needs_a_positive_stride(stride: float) -> None:
    with pytest.raises(ConfigError, match="stride must be positive seconds"):
        WindowClock(geometry=G, stride=stride, start_time=0.0)


def test_finish_a_short_clip_and_a_tail() -> None:
    short = WindowClock(geometry=G, stride=0.25, start_time=0.0)
    assert short.due(0.2) == [] and short.finish(0.2) == [pytest.approx(0.5)] and short.count == 1
    tail = WindowClock(geometry=G, stride=0.25, start_time=0.0)
    assert tail.due(0.9) == [pytest.approx(0.5), pytest.approx(0.75)]
    assert tail.finish(0.9) == [0.9] and tail.count == 3  # the clip's end is seen too
    no_tail = WindowClock(geometry=G, stride=0.25, start_time=0.0)
    no_tail.due(0.9)
    assert no_tail.finish(0.9, tail=False) == [] and no_tail.count == 2
    exact = WindowClock(geometry=G, stride=0.25, start_time=0.0)
    exact.due(0.75)
    assert exact.finish(0.75) == []  # the last regular window already ends at the last frame


def test_window_end_times_over_a_file_and_a_live_source() -> None:
    ts = np.arange(30) / 30.0  # 1 s at 30 fps: windows end at 0.5, 0.75 (+ a tail at 29/30)
    assert window_end_times(ts, G, 0.25, final=False) == pytest.approx([0.5, 0.75])
    assert window_end_times(ts, G, 0.25) == pytest.approx([0.5, 0.75, 29 / 30])
    assert window_end_times(ts, G, 0.25, tail=False) == pytest.approx([0.5, 0.75])
    assert window_end_times(ts[:5], G, 0.25) == pytest.approx([0.5])  # short: one padded window
    assert window_end_times(ts[:5], G, 0.25, final=False).shape == (0,)
    assert window_end_times(ts + 100.0, G, 0.25) == pytest.approx([100.5, 100.75, 100 + 29 / 30])
    # the last frame itself completes a window
    assert window_end_times([0.0, 0.25, 0.5, 0.75], G, 0.25, final=False) == pytest.approx([0.5, 0.75])
    with pytest.raises(ConfigError, match="need at least one frame timestamp"):
        window_end_times([], G, 0.25)
    with pytest.raises(ConfigError):
        window_end_times(np.zeros((2, 2)), G, 0.25)


def test_a_window_takes_each_frame_once() -> None:
    ts = np.arange(40) / 30.0
    positions, per_pathway = window_positions(ts, 0.5, G)  # grid = frames 0..15
    fast = np.array([0, 2, 4, 6, 8, 10, 12, 15])  # linspace(0, 15, 8).long()
    slow = fast[[0, 2, 4, 7]]  # linspace(0, 7, 4).long() of Fast
    np.testing.assert_array_equal(positions, fast)
    np.testing.assert_array_equal(positions[per_pathway[1]], fast)
    np.testing.assert_array_equal(positions[per_pathway[0]], slow)


def test_cut_window_copies_only_the_frames_taken() -> None:
    ts = np.arange(40) / 15.0  # a 15 fps source: the 30 fps grid repeats frames
    store = [np.full((2, 3, 3), i, np.uint8) for i in range(40)]
    cut = cut_window(store, ts, 1.0, G)  # grid instants 0.5 .. 1.0 s: frames 7.5 .. 15 at 15 fps
    assert len(cut.positions) == len(set(cut.positions.tolist())) <= 8
    assert cut.frames.shape == (len(cut.positions), 2, 3, 3) and cut.frames.dtype == np.uint8
    np.testing.assert_array_equal(cut.frames[:, 0, 0, 0], cut.positions)
    fast = cut.positions[cut.pathway_indices[1]]
    assert len(fast) == 8 and fast[0] == 7 and fast[-1] == 15 and list(fast) == sorted(fast)
    assert len(cut.pathway_indices[0]) == 4
    stack = np.stack(store)
    again = cut_window(stack, ts, 1.0, G)  # an array store cuts the same
    np.testing.assert_array_equal(again.frames, cut.frames)
