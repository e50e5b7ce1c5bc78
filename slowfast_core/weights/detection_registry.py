"""Named weights for per-person detection: the SlowFast AVA head network and torchvision's person detectors.

They live beside the classifier registry (`weights.registry`) and go through the same cache
(`torch.hub.get_dir()/checkpoints`) and the same download code (`weights.download.download_file`: temporary
file, atomic rename, one-line errors). They are kept out of `REGISTRY` because everything that lists it offers
whole-frame Kinetics classifiers (the Model menu, `--weights`); these are not classifiers.

Sources: PyTorchVideo's hub (`pytorchvideo/models/hub/slowfast.py`, `slowfast_r50_detection`: AVA v2.2, 80
classes); torchvision's detection weights enums (their URLs are read from torchvision itself, offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from slowfast_core.errors import WeightsError
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.weights.download import download_file

DetectionWeightsKind = Literal["actions", "person"]

PYTORCHVIDEO_AVA_URL = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/ava"
#: AVA's test-time preprocessing in PyTorchVideo's and PySlowFast's demos: the full frame, short side 256.
AVA_PREPROCESSING = Preprocessing(mean=(0.45,) * 3, std=(0.225,) * 3, short_side=256, crop="full")


@dataclass(frozen=True)
class DetectionWeightsEntry:
    """A downloadable detection checkpoint: an action network over boxes, or a person detector."""

    name: str
    kind: DetectionWeightsKind
    arch: str
    url: str
    categories: tuple[str, ...]
    description: str
    preprocessing: Preprocessing | None = None
    geometry: ClipGeometry | None = None

    @property
    def file_name(self) -> str:
        """The cache file name: the URL's last part (torch.hub's convention)."""
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ResolvedDetectionWeights:
    path: Path
    entry: DetectionWeightsEntry


#: torchvision's COCO_V1 URLs of its two person detectors, written here rather than read from torchvision's
#: weight enums: importing torchvision.models pulls in torch._dynamo (~2 s), and the window's Model menu lists
#: these at start-up. A test pins them to torchvision's own (`torchvision_url`).
TORCHVISION_URLS = {
    "fasterrcnn_mobilenet_v3_large_320_fpn":
        "https://download.pytorch.org/models/fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
    "fasterrcnn_resnet50_fpn": "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
}


def torchvision_url(arch: str) -> str:
    """The COCO_V1 URL of torchvision's weights enum for detector `arch`, read from torchvision (slow import)."""
    from torchvision.models import detection

    return str(getattr(detection, _ENUMS[arch]).COCO_V1.url)


def _build() -> dict[str, DetectionWeightsEntry]:
    from slowfast_core.weights.labels import ava_labels

    entries = (
        DetectionWeightsEntry(
            name="SLOWFAST_8x8_R50_DETECTION", kind="actions", arch="slowfast_r50_detection",
            url=f"{PYTORCHVIDEO_AVA_URL}/SLOWFAST_8x8_R50_DETECTION.pyth", categories=tuple(ava_labels()),
            description="SlowFast R50 8x8 with RoI head, AVA v2.2 (80 actions), PyTorchVideo hub slowfast_r50_detection",
            preprocessing=AVA_PREPROCESSING, geometry=ClipGeometry(8, 8, 4)),
        DetectionWeightsEntry(
            name="FASTERRCNN_MOBILENET_V3_LARGE_320_FPN", kind="person",
            arch="fasterrcnn_mobilenet_v3_large_320_fpn",
            url="", categories=("person",),
            description="torchvision Faster R-CNN MobileNetV3-Large 320 FPN, COCO (people only): the CPU detector"),
        DetectionWeightsEntry(
            name="FASTERRCNN_RESNET50_FPN", kind="person", arch="fasterrcnn_resnet50_fpn", url="",
            categories=("person",),
            description="torchvision Faster R-CNN ResNet-50 FPN, COCO (people only): the detector where a GPU is present"),
    )
    return {e.name: e for e in entries}


_ENUMS = {"fasterrcnn_mobilenet_v3_large_320_fpn": "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
          "fasterrcnn_resnet50_fpn": "FasterRCNN_ResNet50_FPN_Weights"}
_REGISTRY: dict[str, DetectionWeightsEntry] | None = None


def detection_registry() -> dict[str, DetectionWeightsEntry]:
    """Every detection weights entry by name (built once; torchvision's URLs from `TORCHVISION_URLS`)."""
    global _REGISTRY
    if _REGISTRY is None:
        from dataclasses import replace

        built = _build()
        _REGISTRY = {k: replace(e, url=TORCHVISION_URLS[e.arch]) if e.kind == "person" else e
                     for k, e in built.items()}
    return _REGISTRY


def get_detection_weights(name: str) -> DetectionWeightsEntry:
    """The entry `name` (case-insensitive); WeightsError listing the names otherwise."""
    reg = detection_registry()
    for entry in reg.values():
        if entry.name.upper() == name.strip().upper():
            return entry
    raise WeightsError(f"unknown detection weights {name!r}: use a checkpoint file or one of {', '.join(reg)}")


def cached_detection_path(entry: DetectionWeightsEntry) -> Path:
    """Where `entry`'s file lives (or will live): torch's hub cache, like every weights download."""
    from slowfast_core.weights.registry import cache_dir

    return cache_dir() / entry.file_name


def resolve_detection_weights(name: str, *, download: bool = True, progress: bool = True) -> ResolvedDetectionWeights:
    """The cached file of `name`, downloaded first when missing and `download`; WeightsError in one line else."""
    entry = get_detection_weights(name)
    path = cached_detection_path(entry)
    if path.is_file():
        return ResolvedDetectionWeights(path, entry)
    if not download:
        raise WeightsError(f"detection weights {entry.name} are not downloaded yet: copy {entry.file_name} "
                           f"({entry.url}) to {path}")
    return ResolvedDetectionWeights(download_file(entry.url, path, progress=progress), entry)
