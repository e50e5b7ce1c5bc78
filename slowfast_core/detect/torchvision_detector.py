"""torchvision's Faster R-CNN as the person detector: MobileNetV3-Large 320 FPN on a CPU, ResNet-50 FPN on a GPU.

Weights come from the detection registry (`weights.detection_registry`), through the same cache and download
code as the SlowFast weights. Only COCO's "person" class (label 1) is kept, above `min_score`.
"""

from __future__ import annotations

import numpy as np
import torch

from slowfast_core.detect.base import Detector, PersonBox, check_boxes

COCO_PERSON = 1
#: the registry entry used where no detector is named: the small one on a CPU, the ResNet-50 one on a GPU
CPU_DETECTOR = "FASTERRCNN_MOBILENET_V3_LARGE_320_FPN"
GPU_DETECTOR = "FASTERRCNN_RESNET50_FPN"


def default_detector_name(device: str | torch.device | None = None) -> str:
    """The registry name of the person detector for `device` (None: CUDA when present, else the CPU one)."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return GPU_DETECTOR if dev.type == "cuda" else CPU_DETECTOR


class TorchvisionPersonDetector(Detector):
    """A torchvision Faster R-CNN keeping people only. fp16 on CUDA; eval mode, inference_mode."""

    def __init__(self, name: str | None = None, *, device: str | None = None, min_score: float = 0.7,
                 download: bool = True) -> None:
        from torchvision.models import detection

        from slowfast_core.weights.detection_registry import get_detection_weights, resolve_detection_weights

        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        entry = get_detection_weights(name or default_detector_name(self.device))
        resolved = resolve_detection_weights(entry.name, download=download)  # WeightsError in one line offline
        builder = getattr(detection, entry.arch)
        model = builder(weights=None, weights_backbone=None, box_score_thresh=min_score)
        model.load_state_dict(torch.load(resolved.path, map_location="cpu", weights_only=True))
        self.model = model.eval().to(self.device)
        self.half = self.device.type == "cuda"
        if self.half:
            self.model.half()
        self.min_score = float(min_score)
        self.name = entry.name.lower()

    def detect(self, image: np.ndarray) -> list[PersonBox]:
        h, w = image.shape[:2]
        rgb = torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1)  # (3, H, W) uint8
        x = rgb.to(self.device, torch.float16 if self.half else torch.float32) / 255.0
        with torch.inference_mode():
            out = self.model([x])[0]
        keep = (out["labels"] == COCO_PERSON) & (out["scores"] >= self.min_score)
        boxes = [PersonBox(*map(float, b), score=float(s))
                 for b, s in zip(out["boxes"][keep].float().cpu(), out["scores"][keep].float().cpu())]
        return check_boxes(boxes, w, h)
