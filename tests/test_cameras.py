"""The camera's success path through OpenCV's interface: open with a requested size and rate, the first frame
kept, frames in order, a failing device reported, released and reopened (by hand and by the capture thread), and
camera discovery. This machine has no camera: `cv2.VideoCapture` is replaced at the boundary by a device that
behaves like one (frames numbered in their pixels, sizes it supports, unplugging and plugging back)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

from slowfast_core.errors import SourceError
from slowfast_core.video import cameras
from slowfast_core.video.cameras import CameraChoice, CameraSource, camera_nodes, discover_cameras, list_cameras
from slowfast_core.stream.capture import CaptureThread, buffer_shape
from slowfast_core.stream.ringbuffer import RingBuffer

from helpers.events import EventLog


@dataclass
class Device:
    """A camera as its driver sees it: the sizes it can deliver, the rate it reports, whether it is plugged in."""

    sizes: tuple[tuple[int, int], ...] = ((640, 480), (320, 240))
    fps: float = 30.0
    plugged: threading.Event = field(default_factory=threading.Event)
    delivers: bool = True  # False: opens, but every read fails (in use elsewhere)
    sent: int = 0  # frames read so far, over every opening
    opened: int = 0
    released: int = 0

    def __post_init__(self) -> None:
        self.plugged.set()


DEVICES: dict[object, Device] = {}


class FakeCapture:
    """cv2.VideoCapture's interface over a `Device`: a frame's first pixel row holds its running number."""

    def __init__(self, device: object) -> None:
        self.device = DEVICES.get(device)
        self.open = self.device is not None and self.device.plugged.is_set()
        if self.open:
            self.device.opened += 1
        self.size = self.device.sizes[0] if self.device else (0, 0)
        self.asked: dict[int, float] = {}

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.open

    def set(self, prop: int, value: float) -> bool:
        self.asked[prop] = value
        w = int(self.asked.get(cv2.CAP_PROP_FRAME_WIDTH, self.size[0]))
        h = int(self.asked.get(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1]))
        if (w, h) in self.device.sizes:  # a size the camera has; any other request is ignored, as drivers do
            self.size = (w, h)
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self.device.fps, cv2.CAP_PROP_FRAME_WIDTH: float(self.size[0]),
                cv2.CAP_PROP_FRAME_HEIGHT: float(self.size[1])}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.open or not self.device.plugged.is_set() or not self.device.delivers:
            return False, None
        frame = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        frame[0, :4] = np.frombuffer(np.uint32(self.device.sent).tobytes(), np.uint8)[:, None]
        self.device.sent += 1
        return True, frame

    def release(self) -> None:
        if self.open:
            self.device.released += 1
        self.open = False


def number(frame: np.ndarray) -> int:
    return int(np.frombuffer(frame[0, :4, 0].tobytes(), np.uint32)[0])


@pytest.fixture
def devices(monkeypatch: pytest.MonkeyPatch) -> dict[object, Device]:
    DEVICES.clear()
    monkeypatch.setattr(cameras.cv2, "VideoCapture", FakeCapture)
    yield DEVICES
    DEVICES.clear()


def test_a_camera_opens_at_the_asked_size_and_keeps_its_first_frame(devices) -> None:
    devices[0] = Device()
    source = CameraSource(0, width=320, height=240, fps=30)
    info = source.open()
    assert (info.width, info.height, info.fps) == (320, 240, 30.0) and source.name == "camera:0"
    frames = [source.read() for _ in range(5)]
    assert [number(f.image) for f in frames] == [0, 1, 2, 3, 4]  # the frame read at open comes first
    assert frames[0].image.shape == (240, 320, 3)
    source.close()
    assert devices[0].released == 1 and source.info is None
    with pytest.raises(SourceError, match="not open"):
        source.read()


def test_the_size_the_camera_gives_is_reported_not_the_one_asked(devices, caplog) -> None:
    devices[0] = Device(sizes=((640, 480),))
    with caplog.at_level("INFO", logger="slowfast_core.video.cameras"):
        info = CameraSource(0, width=1280, height=720).open()
    assert (info.width, info.height) == (640, 480)
    assert "camera:0: asked for 1280x720, got 640x480" in caplog.text


@pytest.mark.parametrize("claimed,used", [(0.0, 30.0), (float("nan"), 30.0), (15.0, 15.0)])
def test_a_rate_the_driver_does_not_know_is_taken_as_30(devices, claimed: float, used: float) -> None:
    devices[0] = Device(fps=claimed)
    assert CameraSource(0).open().fps == used


def test_a_camera_by_path(devices) -> None:
    devices["/dev/null"] = Device()  # a character device, as /dev/video0 is
    source = CameraSource("/dev/null")
    assert source.open().width == 640 and number(source.read().image) == 0
    source.close()


def test_a_camera_that_stops_is_an_error_released_and_opens_again(devices) -> None:
    devices[0] = device = Device()
    source = CameraSource(0)
    source.open()
    assert number(source.read().image) == 0 and number(source.read().image) == 1
    device.plugged.clear()  # unplugged
    with pytest.raises(SourceError, match="camera 0 stopped delivering frames: check the cable"):
        source.read()
    source.close()
    with pytest.raises(SourceError, match="cannot open camera 0: no such camera or it is busy"):
        source.open()
    device.plugged.set()  # plugged back
    source.open()
    assert number(source.read().image) == 2 and device.opened == 2 and device.released == 1


def test_a_camera_that_opens_but_delivers_nothing(devices) -> None:
    devices[0] = Device(delivers=False)
    with pytest.raises(SourceError, match="camera 0 opened but delivers no frames"):
        CameraSource(0).open()
    assert devices[0].released == 1


def test_an_interrupted_camera_reads_none(devices) -> None:
    devices[0] = Device()
    source = CameraSource(0)
    source.open()
    source.interrupt()
    assert source.read() is None
    source.open()  # clears the interrupt
    assert source.read() is not None


def test_the_capture_thread_reconnects_an_unplugged_camera(devices) -> None:
    devices[0] = device = Device(sizes=((160, 120),))
    source = CameraSource(0)
    info = source.open()
    buffer = RingBuffer(capacity=32, frame_shape=buffer_shape(info.width, info.height, 40))
    events = EventLog(keep_frames=True)
    capture = CaptureThread(source, buffer=buffer, short_side=40, on_frame=events.on_frame,
                            on_state=events.on_state, on_error=events.on_error, backoff=(0.01, 0.05))
    capture.start()
    try:
        events.wait_frames(3)
        device.plugged.clear()
        events.wait(lambda: sum(s == "reopening" for s, _ in events.states) >= 2, what="two reopen attempts")
        before = events.frames
        device.plugged.set()
        events.wait_frames(before + 3)
    finally:
        capture.stop()
        capture.join(10)
    assert not capture.is_alive()
    assert any("camera 0 stopped delivering frames" in e.message and not e.fatal for e in events.errors)
    assert any(s == "running" and "camera:0 reopened (160x120)" in m for s, m in events.states)
    numbers = [number(cv2.cvtColor(p.image, cv2.COLOR_RGB2BGR)) for p in events.frame_list]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)  # nothing twice, in order
    assert device.opened >= 2 and device.released == device.opened  # every opening released


def test_discover_cameras_by_name(devices) -> None:
    named = [("/dev/video2", "Integrated Camera"), ("usb-1234", "USB Cam"), ("usb-99", "")]
    assert discover_cameras(lambda: named) == [
        CameraChoice("Integrated Camera", "camera:/dev/video2"),  # a /dev/video id: opened by path
        CameraChoice("USB Cam", "camera:1"),  # other ids: by position
        CameraChoice("usb-99", "camera:2"),  # no description: its id
    ]
    assert discover_cameras(lambda: [("", "")]) == [CameraChoice("Camera 0", "camera:0")]


def test_discover_cameras_falls_back_to_the_nodes(monkeypatch) -> None:
    nodes = ["/dev/video10", "/dev/video2", "/dev/video0"]
    monkeypatch.setattr(cameras.glob, "glob", lambda pattern: list(nodes) if pattern == "/dev/video*" else [])
    monkeypatch.setattr(cameras.sys, "platform", "linux")
    expected = [CameraChoice(f"Camera {p}", f"camera:{p}") for p in ("/dev/video0", "/dev/video2", "/dev/video10")]
    assert camera_nodes() == expected  # in number order, not text order

    def broken() -> list[tuple[str, str]]:
        raise ImportError("no Qt Multimedia here")

    assert discover_cameras(broken) == expected and discover_cameras(None) == expected
    assert discover_cameras(lambda: []) == []  # the lister worked and found none: no nodes guessed
    monkeypatch.setattr(cameras.sys, "platform", "win32")
    assert camera_nodes() == []


def test_list_cameras_reports_those_that_deliver(devices, monkeypatch) -> None:
    devices["/dev/null"] = Device(sizes=((320, 240),), fps=25.0)
    devices["/dev/zero"] = Device(delivers=False)  # opens, no frames: left out
    # /dev/full: no device answers there
    monkeypatch.setattr(cameras.glob, "glob", lambda pattern: ["/dev/zero", "/dev/null", "/dev/full"])
    monkeypatch.setattr(cameras.sys, "platform", "linux")
    found = list_cameras()
    assert [(c.device, c.width, c.height, c.fps, c.spec) for c in found] == [
        ("/dev/null", 320, 240, 25.0, "camera:/dev/null")]
    assert all(d.released == d.opened for d in devices.values())  # each probe closed its device
