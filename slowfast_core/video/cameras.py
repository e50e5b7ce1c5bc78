"""Camera discovery for menus and start-up: names people know their cameras by, and the spec that opens each.

No Qt here: the window passes its own lister (Qt Multimedia knows the cameras' product names); without one, or
when it fails, the /dev/video* nodes are listed by path *without opening them* (opening can take seconds per
device; `sources.list_cameras` opens each when that is what is wanted, e.g. `slowfast run --list-cameras`).
"""

from __future__ import annotations

import glob
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraChoice:
    """A camera for a Source menu: the name people know it by and the spec that opens it."""

    name: str
    spec: str


#: a lister of (device id, description) pairs in the system's order, e.g. Qt Multimedia's video inputs
NamedLister = Callable[[], "list[tuple[str, str]]"]


def camera_nodes() -> list[CameraChoice]:
    """The /dev/video* nodes by path (Linux), not opened; [] elsewhere."""
    if not sys.platform.startswith("linux"):
        return []
    return [CameraChoice(f"Camera {p}", f"camera:{p}") for p in sorted(glob.glob("/dev/video*"),
                                                                    key=lambda p: (len(p), p))]


def discover_cameras(named: NamedLister | None = None) -> list[CameraChoice]:
    """The cameras here: from `named` when given and it works (ids that are /dev/video paths are opened by
    path, others by their position), else `camera_nodes()`."""
    if named is not None:
        try:
            devices = named()
        except Exception as exc:  # noqa: BLE001 - ImportError, missing system libraries: fall back to the nodes
            logger.info("camera names unavailable (%s): listing /dev/video* instead", exc)
        else:
            out = []
            for i, (ident, description) in enumerate(devices):
                spec = f"camera:{ident}" if ident.startswith("/dev/video") else f"camera:{i}"
                out.append(CameraChoice(description or ident or f"Camera {i}", spec))
            return out
    return camera_nodes()
