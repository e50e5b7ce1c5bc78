"""The OpenVINO conversion, run in a child process: `python -m slowfast_core.backends.openvino_convert WORK`.

Why a child process: `openvino.convert_model` traces the torch module with `torch.jit.trace`, and tracing
is not thread-safe. `torch.jit._trace._trace_module_map` (module -> scope name, read by every
`Module._slow_forward` while tracing) is one process-wide global that each trace sets for its duration and
restores afterwards; two traces at once overwrite each other's map, so their graphs get other scopes and
value names, and the trace's own sanity check fails ("Graphs differed across invocations", which OpenVINO
reports as "Couldn't get TorchScript module by tracing"). A fresh interpreter holding a private copy of the
model traces exactly once, whatever else the program does, and it can be killed: a stop or a model switch
during the tens of seconds of a conversion ends it at once.

The job folder WORK (made by the parent, private to it) holds:
    job.json    {"example_shapes": [[B, 3, T, H, W], ...], "parent": PID}
    model.pt    the BN-folded module (`torch.save` of the whole module, written by the parent just before)
The child writes WORK/ir/model.xml + model.bin, or WORK/error.txt (one line: why it failed) and exits 1.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slowfast_core.backends.openvino_import import import_openvino, without_telemetry

JOB = "job.json"
MODEL = "model.pt"
IR_DIR = "ir"
IR_XML = "model.xml"
ERROR = "error.txt"
LOG = "child.log"


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the parent dies (no orphan conversion burning the CPU)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent was gone before the line above took effect
        os._exit(1)


def reason(exc: BaseException) -> str:
    """One line saying why: the exception's type and its message with the whitespace folded (<= 400 chars)."""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= 400 else line[:397] + "..."


def convert(work: Path) -> None:
    """Convert WORK/model.pt with the job's example inputs and save the IR (fp32 weights) under WORK/ir."""
    import torch

    # [(B, 3, T_p, H, W)] zero clips; torch.jit.trace's deprecation notes (FutureWarning) are not ours to fix
    convert_saved_module(work, lambda job: [torch.zeros(*shape) for shape in job["example_shapes"]], FutureWarning)


def convert_saved_module(work: Path, example_of: Callable[[dict], Any], quiet: type[Warning] = Warning) -> None:
    """The one conversion of a child: load WORK/model.pt, trace it on `example_of(job)` (warnings of kind `quiet`
    silenced) and save the IR (fp32 weights) under WORK/ir. Traces on one thread: the live view beside us keeps
    the other cores."""
    import torch

    torch.set_num_threads(1)
    openvino = import_openvino()
    job = json.loads((work / JOB).read_text(encoding="utf-8"))
    module = torch.load(work / MODEL, weights_only=False)  # our own file, written by the parent a moment ago
    example = example_of(job)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", quiet)
        ov_model = openvino.convert_model(module, example_input=(example,))
    out = work / IR_DIR
    out.mkdir()
    openvino.save_model(ov_model, str(out / IR_XML), compress_to_fp16=False)


def main(argv: list[str]) -> int:
    return run_job(argv, convert)


def run_job(argv: list[str], work_on: Callable[[Path], None]) -> int:
    """A conversion child's life: read the job in folder argv[0], end with the parent, run `work_on(folder)`;
    any failure is written to the folder's ERROR file for the parent (exit 1). Shared by the int8 child."""
    work = Path(argv[0])
    without_telemetry()  # before OpenVINO or NNCF is imported: this child sends nothing
    try:
        job = json.loads((work / JOB).read_text(encoding="utf-8"))
        _die_with_parent(int(job["parent"]))
        work_on(work)
    except BaseException as exc:  # noqa: BLE001 - every failure is written down for the parent
        traceback.print_exc()
        try:
            (work / ERROR).write_text(reason(exc) + "\n", encoding="utf-8")
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
