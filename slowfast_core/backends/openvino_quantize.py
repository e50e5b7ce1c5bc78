"""The int8 quantisation, run in a child process: `python -m slowfast_core.backends.openvino_quantize WORK`.

A child for the reasons the fp32 conversion has one (`openvino_convert`): it takes minutes on two cores and
must be killable at once (a stop, Ctrl-C), and NNCF (a 3 s import, scikit-learn and scipy behind it) stays
out of the program that only runs the result.

The job folder WORK (made by the parent) holds `job.json`:
    {"parent": PID, "fp32_xml": the fp32 IR, "plan": CalibrationPlan.to_json(),
     "geometry": ClipGeometry fields, "preprocessing": Preprocessing fields}
The child decodes the plan's calibration windows (the one window cutter), runs NNCF post-training
quantisation of the fp32 IR on them (the PERFORMANCE preset: symmetric int8 weights and activations, what the
CPU's VNNI/AMX int8 instructions take; min/max activation ranges; fast bias correction), and writes WORK/ir/model.xml + model.bin, or
WORK/error.txt (one line) and exits 1.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from slowfast_core.backends.openvino_convert import IR_DIR, IR_XML, JOB, run_job
from slowfast_core.backends.openvino_import import import_openvino


def quantize(work: Path) -> None:
    """Quantise the job's fp32 IR on its calibration windows and save the int8 IR under WORK/ir."""
    openvino = import_openvino()  # first, so NNCF finds OpenVINO's telemetry off too
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    from slowfast_core.backends.calibration import CalibrationPlan, iter_plan_windows
    from slowfast_core.spec import ClipGeometry, Preprocessing

    job = json.loads((work / JOB).read_text(encoding="utf-8"))
    plan = CalibrationPlan.from_json(job["plan"])
    geometry = ClipGeometry(**job["geometry"])
    prep_fields = job["preprocessing"]
    prep = Preprocessing(**{**prep_fields, "mean": tuple(prep_fields["mean"]), "std": tuple(prep_fields["std"])})
    fp32 = openvino.Core().read_model(job["fp32_xml"])

    class Windows:
        """Re-iterable (NNCF may pass over the data more than once): decodes the calibration windows again."""

        def __iter__(self):  # -> [(1, 3, T_p, H, W) float32 ndarray] per window
            for inputs in iter_plan_windows(plan, geometry, prep, "calibration"):
                yield [t.numpy() for t in inputs]

        def __len__(self) -> int:
            return plan.calibration

    # Activation ranges from the plain min/max over the calibration windows, not NNCF's default quantile
    # estimate: in a video model the informative activations are often the rare large ones (a small moving
    # object on a still background), and clipping them cost a trained slowfast_tiny 15 points of top-1
    # agreement with fp32 (80% -> 95%; README, Speed).
    ranges = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        int8 = nncf.quantize(fp32, nncf.Dataset(Windows()), preset=nncf.QuantizationPreset.PERFORMANCE,
                             subset_size=plan.calibration, fast_bias_correction=True, advanced_parameters=ranges)
    out = work / IR_DIR
    out.mkdir()
    openvino.save_model(int8, str(out / IR_XML), compress_to_fp16=False)


def main(argv: list[str]) -> int:
    return run_job(argv, quantize)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
