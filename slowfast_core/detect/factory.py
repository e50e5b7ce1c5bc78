"""A person detector from its command-line name: a registry name (torchvision), or `scene:N` (the synthetic
multi-actor scene's own boxes: N side-by-side actors, as `slowfast synth --actors N` and
`synthetic:actions...,actors=N` lay them out)."""

from __future__ import annotations

from slowfast_core.detect.base import Detector
from slowfast_core.detect.scene_boxes import SceneBoxesDetector
from slowfast_core.errors import ConfigError


def scene_detector(actors: int) -> SceneBoxesDetector:
    """The boxes of `actors` side-by-side actors in any frame (normalised, scaled to the frame it is shown)."""
    from slowfast_core.video.multi_actor import MARGIN, MAX_ACTORS

    if not 1 <= actors <= MAX_ACTORS:
        raise ConfigError(f"scene:{actors}: the synthetic scene has 1..{MAX_ACTORS} actors")
    boxes = [((i + MARGIN) / actors, MARGIN, (i + 1 - MARGIN) / actors, 1 - MARGIN) for i in range(actors)]
    return SceneBoxesDetector(boxes, width=1, height=1)


def make_detector(spec: str | None, *, device: str | None = None, download: bool = True,
                  backend: str = "auto") -> Detector:
    """`spec`: None for torchvision's default person detector on `device`, a detection registry name, or scene:N.
    download: fetch a torchvision detector's weights when not cached (False: WeightsError saying where to put them).
    backend: a torchvision detector's on a CPU: "auto" (OpenVINO where it converts and matches torch), "openvino",
    "torch" (`detect.torchvision_detector`)."""
    if spec is not None and spec.startswith("scene:"):
        count = spec[len("scene:"):]
        if not count.isdigit():
            raise ConfigError(f"--detector {spec}: use scene:N with N the number of actors (1..6)")
        return scene_detector(int(count))
    from slowfast_core.detect.torchvision_detector import TorchvisionPersonDetector

    return TorchvisionPersonDetector(spec, device=None if device in (None, "auto") else device, download=download,
                                     backend=backend)


def scene_detector_names(current: str | None, source: str | None = None) -> list[str]:
    """The scene:N detectors worth offering: the one in use, and the one matching a multi-actor synthetic
    `source` ('synthetic:actions...,actors=N'), each once; none for cameras and files (no scene to read)."""
    names = [current] if current and current.startswith("scene:") else []
    if source and source.startswith("synthetic:actions") and ",actors=" in source:
        count = source.rsplit(",actors=", 1)[1].split(",")[0]
        if count.isdigit() and f"scene:{count}" not in names:
            names.append(f"scene:{count}")
    return names
