"""A frame source from its `--source` text (camera:N, camera:/dev/videoN, file:PATH, synthetic[:WxH][@FPS],
synthetic:actions[:A-B]): the one parser the command line, the window and the tests use. It sits above the
concrete sources (cameras, file_source, synthetic, scripted), which build on the interface in `sources.py`.
"""

from __future__ import annotations

import re

from slowfast_core.errors import SourceError
from slowfast_core.video.cameras import CameraSource
from slowfast_core.video.file_source import FileSource
from slowfast_core.video.sources import FrameSource
from slowfast_core.video.synthetic import SyntheticSource

_SYNTHETIC = re.compile(r"^synthetic(?::(?:(\d+)x(\d+))?(?:@(\d+(?:\.\d+)?))?)?$")


def parse_source(spec: str, *, realtime: bool = True, loop: bool = False) -> FrameSource:
    """A source from its `--source` text: camera:N, camera:/dev/videoN, file:PATH, synthetic[:WxH][@FPS].

    realtime: files are paced at their fps like a camera (else read as fast as possible, every frame);
    loop: files start again at their end. Cameras and the synthetic scene are always live.
    """
    text = spec.strip()
    if text.startswith("synthetic:actions") and ",actors=" in text:
        from slowfast_core.video.multi_actor_source import parse_multi_actor_source  # several actors, with boxes

        actors = parse_multi_actor_source(text, realtime=realtime)
        if actors is not None:
            return actors
    if text.startswith(("synthetic:actions", "synthetic:shapes")):
        from slowfast_core.video.scripted import parse_actions_source  # it builds on SyntheticSource

        scripted = parse_actions_source(text, realtime=realtime)
        if scripted is not None:
            return scripted
    if text.startswith("camera:"):
        device = text[len("camera:"):]
        if device.isdigit():
            return CameraSource(int(device))
        if device:
            return CameraSource(device)
    elif text.startswith("file:") and len(text) > len("file:"):
        return FileSource(text[len("file:"):], paced=realtime, loop=loop)
    elif (m := _SYNTHETIC.match(text)) is not None:
        width = int(m.group(1)) if m.group(1) else 640
        height = int(m.group(2)) if m.group(2) else 480
        fps = float(m.group(3)) if m.group(3) else 30.0
        return SyntheticSource(width, height, fps)
    raise SourceError(
        f"unknown source {spec!r}: use camera:N, camera:/dev/videoN, file:PATH, synthetic[:WxH@FPS] or "
        "synthetic:actions[:A-B][,actors=N] (synthetic:shapes[:A-B]: the original task)"
    )
