"""NaN and infinity never pass for a prediction: checkpoints holding them are refused at load (naming the
tensors), a non-finite model output is an error event (live) or a one-line error (offline), and no JSON
writer ever emits NaN (which is not JSON)."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from slowfast_core.cli import main
from slowfast_core.errors import CheckpointError, InferenceError
from slowfast_core.model import get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.records import probabilities
from slowfast_core.spec import ModelMeta, Preprocessing
from slowfast_core.weights.checkpoint import load_checkpoint
from slowfast_core.weights.checkpoint_file import read_state_dict


@pytest.fixture(scope="module")
def small_state() -> dict[str, torch.Tensor]:
    """The state dict of a small real model (Fast-only R50, 0.6 M parameters)."""
    torch.manual_seed(0)
    return SlowFast(get_config("fast_32x2_r50")).state_dict()


def poisoned(state: dict[str, torch.Tensor], value: float, keys: list[str]) -> dict[str, torch.Tensor]:
    out = {k: v.clone() for k, v in state.items()}
    for k in keys:
        out[k].view(-1)[0] = value
    return out


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("wrapper", ["model_state", None])
def test_a_checkpoint_with_non_finite_weights_is_refused_naming_the_tensors(
        tmp_path: Path, small_state: dict[str, torch.Tensor], value: float, wrapper: str | None) -> None:
    keys = [k for k, v in small_state.items() if v.is_floating_point()][:3]
    state = poisoned(small_state, value, keys)
    path = tmp_path / "bad.pyth"
    torch.save({wrapper: state} if wrapper else state, path)
    for load in (read_state_dict, load_checkpoint):
        with pytest.raises(CheckpointError) as err:
            load(path)
        text = str(err.value)
        assert "\n" not in text and "NaN or infinite values in 3 tensors" in text
        assert keys[0] in text and keys[1] in text and str(path) in text


def test_a_pyslowfast_checkpoint_with_nan_is_refused_too(tmp_path: Path, small_state: dict[str, torch.Tensor]) -> None:
    """Every format goes through the same check: here a PySlowFast-named state dict."""
    state = {"s1.pathway0_stem.conv.weight": torch.full((8, 3, 5, 7, 7), float("nan"))}
    path = tmp_path / "pyslowfast.pyth"
    torch.save({"model_state": state}, path)
    with pytest.raises(CheckpointError, match=r"NaN or infinite values in 1 tensor \(s1.pathway0_stem.conv.weight\)"):
        read_state_dict(path)


def test_predict_refuses_nan_weights_with_one_line(tmp_path: Path, small_state: dict[str, torch.Tensor],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), 6 * i, np.uint8))
    writer.release()
    path = tmp_path / "nan.pyth"
    torch.save({"model_state": poisoned(small_state, float("nan"), ["blocks.6.proj.weight"])}, path)
    assert main(["predict", str(clip), "--weights", str(path), "--json", "--size", "32", "--device", "cpu",
                 "--backend", "torch-eager"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "blocks.6.proj.weight" in err and "Traceback" not in err


def test_a_non_finite_output_is_an_error_not_a_prediction() -> None:
    logits = torch.tensor([[1.0, float("nan"), 2.0]])
    with pytest.raises(InferenceError, match=r"for window 4 is not a number \(1 of 3 values"):
        probabilities(logits, window=4)
    with pytest.raises(InferenceError):
        probabilities(torch.tensor([[float("inf"), 0.0]]))
    assert probabilities(torch.tensor([[0.0, 0.0]])).tolist() == [0.5, 0.5]


class NanModel(SlowFast):
    """A real network whose output turns to NaN on real windows (warm-up zeros still pass), as a backend that
    overflows at run time would."""

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        out = super().forward(x)
        if not all(bool((t == 0).all()) for t in x):
            out = out * float("nan")
        return out


def test_the_live_worker_reports_nan_outputs_as_errors_and_publishes_nothing() -> None:
    from slowfast_core.stream.smoothing import Smoother
    from slowfast_core.stream.worker import MAX_FAILURES, InferenceWorker, LatestSlot, WorkerOptions
    from slowfast_core.stream.ringbuffer import RingBuffer
    from slowfast_core.stream.scheduler import cut_live_window

    model = NanModel(get_config("fast_32x2_r50", num_classes=3),
                     meta=ModelMeta(("a", "b", "c"), Preprocessing(short_side=32))).eval()
    predictions, errors = [], []
    failed = threading.Event()
    slot: LatestSlot = LatestSlot()

    def record_error(e) -> None:
        errors.append(e)
        if e.fatal:
            failed.set()

    class Listener:
        on_prediction = staticmethod(predictions.append)
        on_error = staticmethod(record_error)

        def on_model_ready(self, warm) -> None: ...

        def on_stream_end(self) -> None: ...

    worker = InferenceWorker(slot, Listener(), model, smoother=Smoother(model.meta.categories),
                             options=WorkerOptions(backend="torch-eager", device="cpu"))
    worker.start()
    buffer = RingBuffer(capacity=80, frame_shape=(32, 48, 3))
    rng = np.random.default_rng(0)
    for i in range(70):
        buffer.write(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8), timestamp=i / 30, index=i)
    for k in range(MAX_FAILURES):
        window = cut_live_window(buffer, 69 / 30, model.config.geometry, window_id=k, generation=0)
        slot.put(window, block=True, timeout=30)
    assert failed.wait(60)
    worker.stop()
    worker.join(10)
    assert predictions == []
    assert len(errors) == MAX_FAILURES and "is not a number" in errors[0].message
    assert isinstance(errors[0].exception, InferenceError)


def test_json_writers_never_emit_nan(tmp_path: Path) -> None:
    from slowfast_core.sessions import SessionRecorder
    from slowfast_core.stream.jsonl import JsonlWriter
    from slowfast_core.stream.types import FramePacket, Prediction, Timings

    bad = Prediction(id=1, start_time=0.0, end_time=1.0, first_index=0, last_index=30, topk=(("a", float("nan")),),
                     probs=np.full(1, np.nan, np.float32), label=None, confidence=float("nan"),
                     timings=Timings(1.0, 1.0, 1.0, 1.0))
    out = io.StringIO()
    writer = JsonlWriter(out)
    writer.on_prediction(bad)
    assert out.getvalue() == "" and writer.lines == 0
    rec = SessionRecorder.start(tmp_path, name="nan", labels=["a"], source="synthetic", fps=30.0, width=64, height=48,
                                model="tiny", min_free_bytes=0)
    rec.on_frame(FramePacket(index=0, timestamp=0.0, image=np.zeros((48, 64, 3), np.uint8), source_fps=30.0))
    rec.on_prediction(bad)
    info = rec.stop()
    text = (info.path / "predictions.jsonl").read_text()
    assert "NaN" not in text and all(json.loads(line) for line in text.splitlines())
    assert rec.error is None  # skipping a bad prediction does not stop a recording
