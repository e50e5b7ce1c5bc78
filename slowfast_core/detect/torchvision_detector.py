"""torchvision's Faster R-CNN as the person detector: MobileNetV3-Large 320 FPN on a CPU, ResNet-50 FPN on a GPU.

Weights come from the detection registry (`weights.detection_registry`), through the same cache and download
code as the SlowFast weights. Only COCO's "person" class (label 1) is kept, above `min_score`.

On a CPU it runs on OpenVINO where it converts (`detect.openvino_detector`: about 2.5x faster here), torch
otherwise: backend "auto" reads a cached IR at once, or converts in the background while torch detects and
switches once OpenVINO's boxes match torch's on the frames it first sees (a mismatch or a failed conversion
is logged once and torch goes on); "openvino" converts now and fails loudly; "torch" never converts.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import torch
from torch import nn

from slowfast_core.detect.base import Detector, PersonBox, check_boxes
from slowfast_core.errors import ConfigError

logger = logging.getLogger(__name__)

DETECTOR_BACKENDS = ("auto", "openvino", "torch")
#: frames on which OpenVINO's detections are compared with torch's before OpenVINO runs alone; a frame with
#: nobody in it proves little, so the check lasts until a frame with people (or this many frames)
VERIFY_FRAMES = 30

COCO_PERSON = 1
#: the registry entry used where no detector is named: the small one on a CPU, the ResNet-50 one on a GPU
CPU_DETECTOR = "FASTERRCNN_MOBILENET_V3_LARGE_320_FPN"
GPU_DETECTOR = "FASTERRCNN_RESNET50_FPN"


def default_detector_name(device: str | torch.device | None = None) -> str:
    """The registry name of the person detector for `device` (None: CUDA when present, else the CPU one)."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return GPU_DETECTOR if dev.type == "cuda" else CPU_DETECTOR


class TorchvisionPersonDetector(Detector):
    """A torchvision Faster R-CNN keeping people only: fp16 on CUDA; on a CPU OpenVINO where it converts
    (`backend`, see the module's docstring), else torch. Eval mode, inference_mode."""

    def __init__(self, name: str | None = None, *, device: str | None = None, min_score: float = 0.7,
                 download: bool = True, backend: str = "auto") -> None:
        from torchvision.models import detection

        from slowfast_core.weights.detection_registry import get_detection_weights, resolve_detection_weights

        dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        entry = get_detection_weights(name or default_detector_name(dev))
        resolved = resolve_detection_weights(entry.name, download=download)  # WeightsError in one line offline
        builder = getattr(detection, entry.arch)
        model = builder(weights=None, weights_backbone=None, box_score_thresh=min_score)
        model.load_state_dict(torch.load(resolved.path, map_location="cpu", weights_only=True))
        self._setup(model, entry.name.lower(), dev, min_score, backend)

    @classmethod
    def from_model(cls, model: nn.Module, name: str, *, device: str = "cpu", min_score: float = 0.7,
                   backend: str = "auto") -> "TorchvisionPersonDetector":
        """A detector around an already built torchvision model (its `box_score_thresh` should be `min_score`)."""
        self = cls.__new__(cls)
        self._setup(model, name, torch.device(device), min_score, backend)
        return self

    def _setup(self, model: nn.Module, name: str, device: torch.device, min_score: float, backend: str) -> None:
        if backend not in DETECTOR_BACKENDS:
            raise ConfigError(f"detector backend {backend!r}: use one of {', '.join(DETECTOR_BACKENDS)}")
        self.device = device
        self.model = model.eval().to(self.device)
        self.half = self.device.type == "cuda"
        if self.half:
            self.model.half()
        self.min_score = float(min_score)
        self.base_name = name
        self.backend = "torch"  # what detects now: "torch" or "openvino"
        self.openvino_problem: str | None = None  # why OpenVINO is not used (a failed conversion, a mismatch)
        self._ov = None  # the OpenVINO runner, once converted (checked against torch before it runs alone)
        self._verify_left = VERIFY_FRAMES
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._converting: threading.Thread | None = None
        if self.device.type != "cpu" or backend == "torch":
            return
        from slowfast_core.detect import openvino_detector as ovd

        if not ovd.openvino_openable():
            if backend == "openvino":
                raise ConfigError("the OpenVINO detector backend needs the openvino package: pip install openvino")
            return
        if backend == "openvino":  # asked for by name: converted now, a failure raised, no check against torch
            self._ov = ovd.OpenVinoDetectorRunner(ovd.convert_detector(self.model, name, self.min_score))
            self._verify_left, self.backend = 0, "openvino"
            return
        entry = ovd.detector_cache_entry(self.model, name, self.min_score, ovd.import_openvino().__version__)
        if (entry / "model.xml").is_file():
            self._use_openvino(entry)  # cached: about a second
        else:
            self._converting = threading.Thread(target=self._convert_in_background, name="detector-openvino",
                                                daemon=True)
            self._converting.start()

    @property
    def name(self) -> str:  # type: ignore[override]  # what the reports and status bar name
        return f"{self.base_name} ({self.backend})" if self.backend != "torch" else self.base_name

    def _use_openvino(self, entry) -> None:  # noqa: ANN001 - Path
        from slowfast_core.detect.openvino_detector import OpenVinoDetectorRunner

        try:
            runner = OpenVinoDetectorRunner(entry)
        except Exception as exc:  # noqa: BLE001 - torch goes on; the reason is logged
            self._give_up(f"OpenVINO could not compile it ({type(exc).__name__}: {exc})")
            return
        with self._lock:
            self._ov = runner

    def _convert_in_background(self) -> None:
        from slowfast_core.detect.openvino_detector import convert_detector

        try:
            entry = convert_detector(self.model, self.base_name, self.min_score, cancel=self._cancel)
        except Exception as exc:  # noqa: BLE001 - a cancel, or a conversion that failed: torch goes on
            if not self._cancel.is_set():
                self._give_up(str(exc))
            return
        self._use_openvino(entry)

    def _give_up(self, why: str) -> None:
        self.openvino_problem = why
        logger.warning("person detector %s stays on torch: %s", self.base_name, why)

    def close(self, timeout: float = 5.0) -> None:
        """Stop a conversion in progress (its child process is killed); detection goes on with torch."""
        self._cancel.set()
        if self._converting is not None:
            self._converting.join(timeout=timeout)

    def _torch(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.inference_mode():
            out = self.model([x.to(self.device, torch.float16 if self.half else torch.float32)])[0]
        return (out["boxes"].float().cpu().numpy(), out["scores"].float().cpu().numpy(),
                out["labels"].cpu().numpy())

    def _detections(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All classes' detections for `x` ((3, H, W) float in 0..1): OpenVINO's once it has matched torch's."""
        with self._lock:
            ov = self._ov
        if ov is None:
            return self._torch(x)
        if self._verify_left <= 0:
            return ov(x)
        from slowfast_core.detect.openvino_detector import disagreement

        reference, candidate = self._torch(x), ov(x)
        why = disagreement(reference, candidate, self.min_score)
        if why is not None:
            with self._lock:
                self._ov = None
            self._give_up(f"OpenVINO's boxes differ from torch's: {why}")
            return reference
        people = int(((reference[2] == COCO_PERSON) & (reference[1] >= self.min_score)).sum())
        self._verify_left = 0 if people else self._verify_left - 1
        if self._verify_left == 0:
            self.backend = "openvino"
        return reference

    def detect(self, image: np.ndarray) -> list[PersonBox]:
        h, w = image.shape[:2]
        rgb = torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1)  # (3, H, W) uint8
        boxes, scores, labels = self._detections(rgb.float() / 255.0)
        keep = (labels == COCO_PERSON) & (scores >= self.min_score)
        people = [PersonBox(*map(float, b), score=float(s)) for b, s in zip(boxes[keep], scores[keep])]
        return check_boxes(people, w, h)
