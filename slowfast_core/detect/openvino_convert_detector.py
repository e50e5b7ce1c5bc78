"""The person detector's OpenVINO conversion, run in a child process:
`python -m slowfast_core.detect.openvino_convert_detector WORK` (why a child: see backends.openvino_convert).

WORK holds job.json ({"example_size": [H, W], "parent": PID}) and model.pt (a `DetectorGraph`: the torchvision
Faster R-CNN with tensor outputs); the child writes WORK/ir/model.xml + .bin, or WORK/error.txt (one line).
"""

from __future__ import annotations

import sys
from pathlib import Path

from slowfast_core.backends.openvino_convert import convert_saved_module, run_job


def convert(work: Path) -> None:
    """Trace WORK/model.pt on a noise image of the job's size and save the IR (fp32) under WORK/ir.

    The traced graph keeps the image size dynamic (torchvision's detection transform computes its resize from
    the tensor's shape while tracing) and the per-class NMS scripted (`_batched_nms_coordinate_trick`), so an
    image of any size, with any number of people (none included), runs through the one IR."""
    import torch

    def noise_image(job: dict) -> torch.Tensor:
        height, width = job["example_size"]
        return torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))  # (3, H, W) in 0..1

    # the tracer's notes on torchvision's shape arithmetic (Warning) are silenced: the shapes stay dynamic
    convert_saved_module(work, noise_image, Warning)


def main(argv: list[str]) -> int:
    return run_job(argv, convert)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
