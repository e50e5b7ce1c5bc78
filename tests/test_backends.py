"""Inference backends: BN folding, equal logits to eager for every backend, auto choice, OpenVINO caching
and shape changes, thread and cache settings, and the CUDA path (skipped without a GPU)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest
import torch
from torch import nn

from slowfast_core.backends import BACKENDS, available_backends, create_backend
from slowfast_core.backends.base import slowfast_cache_dir, inference_threads
from slowfast_core.backends.fold import count_batchnorm, fold_batchnorm
from slowfast_core.errors import ConfigError
from slowfast_core.weights.api import create_model
from slowfast_core.model.net import SlowFast

from helpers.waiting import wait_until

CPU = torch.device("cpu")
ATOL = 1e-4  # the bar every backend is held to against eager
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Give every BN non-trivial running stats and affine weights, so folding has something to fold."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def clip(model: SlowFast, size: int = 112, width: int | None = None, seed: int = 1) -> list[torch.Tensor]:
    """A random normalised clip of the model's geometry: [(1, 3, T_p, size, width)]."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, c.frames, size, width or size, generator=g) for c in model.config.geometry.pathways()]


@pytest.fixture(scope="module")
def model() -> SlowFast:
    torch.manual_seed(0)
    m = create_model("slowfast_8x8_r50", num_classes=10)
    randomise_batchnorm(m)
    return m.eval()


@pytest.fixture(scope="module")
def small_model() -> SlowFast:
    """The tiny Fast-only network (depth 14, 1/8 width): quick to convert, for the tests that must convert cold."""
    torch.manual_seed(0)
    m = create_model("fast_tiny", num_classes=10)
    randomise_batchnorm(m, seed=1)
    return m.eval()


@pytest.fixture(scope="module")
def ov_cache(tmp_path_factory: pytest.TempPathFactory):
    """One cache dir for this module, so `model` is converted by OpenVINO once and read back after."""
    return tmp_path_factory.mktemp("slowfast-cache")


@pytest.fixture(scope="module")
def inputs(model: SlowFast) -> list[torch.Tensor]:
    """A 64x64 clip: every layer of the real 8x8 R50 runs (res5 on 2x2), at a quarter of 112²'s work."""
    return clip(model, 64)


@pytest.fixture(scope="module")
def eager_logits(model: SlowFast, inputs: list[torch.Tensor]) -> torch.Tensor:
    with torch.inference_mode():
        return model(inputs)  # (1, 10)


def test_fold_batchnorm_removes_every_bn_and_keeps_logits(model, inputs, eager_logits) -> None:
    n_bn = count_batchnorm(model)
    folded, n = fold_batchnorm(model)
    assert n == n_bn > 100  # stems, every bottleneck conv, shortcuts, fusions
    assert count_batchnorm(folded) == 0
    assert count_batchnorm(model) == n_bn  # the original is untouched
    with torch.inference_mode():
        out = folded(inputs)
    assert out.shape == (1, 10)
    assert eager_logits.abs().max() > 0.1  # logits carry signal, so the comparison means something
    torch.testing.assert_close(out, eager_logits, atol=ATOL, rtol=0)


def test_fold_batchnorm_needs_eval_mode(model) -> None:
    model.train()
    try:
        with pytest.raises(ValueError, match="eval mode"):
            fold_batchnorm(model)
    finally:
        model.eval()


@pytest.mark.parametrize("name", available_backends(CPU))
def test_every_cpu_backend_matches_eager(name, model, inputs, eager_logits, ov_cache, monkeypatch) -> None:
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(ov_cache))
    backend = create_backend(model, backend=name, device="cpu")
    assert backend.name == name and name in backend.description
    out = backend(inputs)
    assert out.dtype == torch.float32 and out.device.type == "cpu" and out.shape == (1, 10)
    torch.testing.assert_close(out, eager_logits, atol=ATOL, rtol=0)
    backend.warmup(inputs, runs=1)
    torch.testing.assert_close(backend(inputs), out, atol=1e-6, rtol=0)  # repeatable


def test_auto_takes_the_first_available_backend_in_preference_order(model, ov_cache, monkeypatch) -> None:
    """'auto' = the first of PREFERENCE that runs here (the order is measured by `slowfast bench model`, not
    here): on a CPU, openvino when installed, else torch-cpu; torch-eager always last."""
    from slowfast_core.backends.base import PREFERENCE

    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(ov_cache))
    names = available_backends(CPU)
    assert names == [n for n in PREFERENCE if n in names]  # listed in preference order
    assert names[-1] == "torch-eager" and "torch-cpu" in names and "torch-cuda" not in names
    assert names[0] == "openvino"  # a hard dependency: if it does not import, this fails (it never skips)
    assert create_backend(model, device="cpu").name == names[0]


def test_without_openvino_auto_falls_back_to_torch_cpu(model, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` raise ImportError
    assert "openvino" not in available_backends(CPU)
    backend = create_backend(model, device="cpu")
    assert backend.name == "torch-cpu"
    with pytest.raises(ConfigError, match="not available on cpu"):
        create_backend(model, backend="openvino", device="cpu")


def test_auto_skips_a_backend_that_fails_to_start(model, inputs, eager_logits, ov_cache, monkeypatch, caplog) -> None:
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(ov_cache))
    first = available_backends(CPU)[0]

    class Broken(BACKENDS[first]):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("cannot convert this model")

    monkeypatch.setitem(BACKENDS, first, Broken)
    with caplog.at_level(logging.WARNING):
        backend = create_backend(model, device="cpu")
    assert backend.name != first
    assert "could not start" in caplog.text
    torch.testing.assert_close(backend(inputs), eager_logits, atol=ATOL, rtol=0)


def test_unknown_or_unavailable_backend_is_a_one_line_error(model) -> None:
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'") as err:
        create_backend(model, backend="tensorrt", device="cpu")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="'torch-cuda' is not available on cpu"):
        create_backend(model, backend="torch-cuda", device="cpu")


def test_openvino_recompiles_on_a_new_shape(small_model, ov_cache) -> None:
    from slowfast_core.backends.openvino_backend import OpenVINOBackend

    backend = OpenVINOBackend(small_model, CPU, cache=ov_cache, max_shapes=2)
    shapes = [(112, 112), (128, 160), (112, 144)]
    for h, w in shapes + [(112, 112)]:
        x = clip(small_model, h, w, seed=h + w)
        with torch.inference_mode():
            ref = small_model(x)
        torch.testing.assert_close(backend(x), ref, atol=ATOL, rtol=0)
    # at most two shapes stay compiled, most recent last
    assert [s[0][-2:] for s in backend.compiled_shapes] == [(112, 144), (112, 112)]


def test_openvino_caches_the_converted_model(small_model, tmp_path) -> None:
    from slowfast_core.backends.openvino_backend import OpenVINOBackend, model_key

    x = clip(small_model)
    with torch.inference_mode():
        ref = small_model(x)
    cold = OpenVINOBackend(small_model, CPU, cache=tmp_path)
    assert not cold.ir_from_cache and "convert_s" in cold.timings
    entries = list((tmp_path / "openvino").iterdir())
    assert [e.name.split("-")[0] for e in entries] == ["fast_tiny"] and cold.entry == entries[0]
    n_params = sum(p.numel() for p in small_model.parameters())
    assert (entries[0] / "model.bin").stat().st_size >= 4 * n_params * 0.95  # fp32 weights, not fp16
    torch.testing.assert_close(cold(x), ref, atol=ATOL, rtol=0)
    assert list((entries[0] / "blobs").iterdir())  # OpenVINO's compiled-blob cache, filled on compile
    warm = OpenVINOBackend(small_model, CPU, cache=tmp_path)
    assert warm.ir_from_cache and "convert_s" not in warm.timings and warm.entry == entries[0]
    torch.testing.assert_close(warm(x), ref, atol=ATOL, rtol=0)
    # other weights -> another key: a cached IR is never served for different weights
    config = repr(small_model.config)
    other = create_model("fast_tiny", num_classes=10)
    assert model_key(small_model, config, "v") != model_key(other, config, "v")
    assert model_key(small_model, config, "v") != model_key(small_model, config, "v2")


def test_conversions_started_at_once_give_working_backends(tmp_path, monkeypatch) -> None:
    """Issue 8: threads converting at once used to break each other's trace ("Graphs differed across
    invocations": torch.jit.trace keeps its module map in a process-wide global). Three at once failed at least
    one conversion in each of 4 tries here before (two at once: 4 of 6 on the issue's machine). Each now
    converts in its own child process."""
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(tmp_path))  # cold
    models = [create_model("fast_tiny", num_classes=10, seed=seed) for seed in (11, 12, 13)]
    for i, m in enumerate(models):
        randomise_batchnorm(m, seed=20 + i)
    x = clip(models[0])
    start = threading.Barrier(len(models))
    results: dict[int, object] = {}

    def convert(i: int) -> None:
        start.wait()
        try:
            results[i] = create_backend(models[i], backend="openvino", device="cpu")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=convert, args=(i,)) for i in range(len(models))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    for i, m in enumerate(models):
        backend = results[i]
        assert backend.name == "openvino" and not backend.ir_from_cache
        with torch.inference_mode():
            ref = m(x)
        torch.testing.assert_close(backend(x), ref, atol=ATOL, rtol=0)
    assert len(list((tmp_path / "openvino").iterdir())) == len(models)  # one cache entry each, no leftovers


class ElsewhereModel(SlowFast):
    """A model class the conversion child cannot import (tests/ is not on its path), so its conversion fails."""


def test_a_failed_conversion_is_retried_once_then_reported(tmp_path, monkeypatch, caplog) -> None:
    from slowfast_core.backends.base import BackendError

    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(tmp_path))
    model = ElsewhereModel(create_model("fast_tiny", num_classes=10).config).eval()
    with caplog.at_level(logging.WARNING), pytest.raises(BackendError) as err:
        create_backend(model, backend="openvino", device="cpu")
    message = str(err.value)
    assert "OpenVINO could not convert fast_tiny (2 attempts)" in message
    assert "No module named 'test_backends'" in message and "\n" not in message  # the child's reason, one line
    assert [r.getMessage() for r in caplog.records if "trying once more" in r.getMessage()] != []
    assert not [p for p in (tmp_path / "openvino").iterdir()]  # nothing half-written left in the cache
    # 'auto' falls back, and says why through `report` (the engine turns it into an event the user sees)
    said: list[str] = []
    backend = create_backend(model, device="cpu", report=said.append)
    assert backend.name == "torch-cpu"
    assert len(said) == 1 and "backend openvino could not start" in said[0] and "test_backends" in said[0]


def test_a_conversion_is_cancelled_at_once(small_model, tmp_path) -> None:
    """Setting the cancel event (the worker's stop) kills the conversion child and raises Cancelled."""
    import psutil

    from slowfast_core.backends.base import Cancelled

    cancel = threading.Event()
    outcome: list[BaseException] = []

    def build() -> None:
        try:
            BACKENDS["openvino"](small_model, CPU, cache=tmp_path, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    from slowfast_core.children import children_busy

    me = psutil.Process()
    thread = threading.Thread(target=build)
    thread.start()

    def conversion_children() -> list[psutil.Process]:
        return [c for c in me.children() if "openvino_convert" in " ".join(c.cmdline())]

    wait_until(lambda: conversion_children() or not thread.is_alive(), timeout=120,
               what="the conversion child to start")
    children = conversion_children()
    assert children, "no conversion child process started"
    assert children_busy() == 1  # torch-cpu inference beside it leaves it a core
    cancelled_at = time.monotonic()
    cancel.set()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - cancelled_at < 2.0
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert not children[0].is_running() or children[0].status() == psutil.STATUS_ZOMBIE
    assert not list((tmp_path / "openvino").iterdir())  # the work folder is gone, nothing cached
    assert children_busy() == 0


def test_openvino_is_imported_without_its_telemetry() -> None:
    """A fresh Python importing OpenVINO the program's way gets the converter's no-op telemetry stand-in, so a
    conversion sends nothing (and every child a test starts runs under the loopback guard, which fails the test
    on any attempt: conftest)."""
    code = ("from slowfast_core.backends.openvino_import import import_openvino\n"
            "import_openvino()\n"
            "from openvino.tools.ovc import convert_impl, telemetry_utils\n"
            "print(convert_impl.tm.__name__, telemetry_utils.tm.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["openvino.tools.ovc.telemetry_stub"] * 2


def test_openvino_unwritable_cache_still_runs(small_model, tmp_path, caplog) -> None:
    from slowfast_core.backends.openvino_backend import OpenVINOBackend

    x = clip(small_model)
    with torch.inference_mode():
        ref = small_model(x)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    with caplog.at_level(logging.WARNING):
        backend = OpenVINOBackend(small_model, CPU, cache=blocker)
    assert "not writable" in caplog.text and "could not cache" in caplog.text
    torch.testing.assert_close(backend(x), ref, atol=ATOL, rtol=0)


def test_threads_and_cache_dir_follow_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLOWFAST_THREADS", "3")
    assert inference_threads() == 3
    monkeypatch.delenv("SLOWFAST_THREADS")
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(tmp_path / "c"))
    assert slowfast_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SLOWFAST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert slowfast_cache_dir() == tmp_path / "xdg" / "slowfast-live"


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 2), (3, 3), (4, 3), (16, 15)])
def test_default_threads_are_the_physical_cores_less_one_from_four(cores, threads, monkeypatch) -> None:
    from slowfast_core.backends import base

    monkeypatch.delenv("SLOWFAST_THREADS", raising=False)
    monkeypatch.setattr(base, "physical_cores", lambda: cores)
    assert inference_threads() == threads


def test_physical_cores_counts_usable_physical_cores() -> None:
    import os

    import psutil

    from slowfast_core.backends.base import physical_cores

    n = physical_cores()
    assert 1 <= n <= len(os.sched_getaffinity(0))  # never more than this process may run on
    assert n <= (psutil.cpu_count(logical=False) or n)  # SMT siblings are not counted


@pytest.mark.parametrize("value", ["many", "0"])
def test_bad_thread_count_is_a_one_line_error(value, monkeypatch) -> None:
    monkeypatch.setenv("SLOWFAST_THREADS", value)
    with pytest.raises(ConfigError, match="SLOWFAST_THREADS") as err:
        inference_threads()
    assert "\n" not in str(err.value)


def test_torch_cpu_sets_the_thread_count(model) -> None:
    before = torch.get_num_threads()
    try:
        backend = create_backend(model, backend="torch-cpu", device="cpu")
        assert torch.get_num_threads() == backend.num_threads == inference_threads()
    finally:
        torch.set_num_threads(before)


# -- CUDA (CI has no GPU: these skip there) -----------------------------------------------------------------------


@needs_cuda
def test_torch_cuda_fp32_matches_eager(model, inputs, eager_logits) -> None:
    from slowfast_core.backends.torch_cuda import TorchCudaBackend

    backend = TorchCudaBackend(model, torch.device("cuda"), precision="fp32")
    out = backend(inputs)
    assert out.device.type == "cpu" and out.dtype == torch.float32
    torch.testing.assert_close(out, eager_logits, atol=ATOL, rtol=0)


@needs_cuda
def test_torch_cuda_fp16_graph_is_close_and_handles_new_shapes(model, eager_logits, inputs) -> None:
    backend = create_backend(model, device="cuda")
    assert backend.name == "torch-cuda" and "fp16" in backend.description
    out = backend(inputs)
    scale = float(eager_logits.abs().max())
    assert float((out - eager_logits).abs().max()) < 1e-2 * max(1.0, scale)  # fp16 rounding, not a wrong graph
    assert int(out.argmax()) == int(eager_logits.argmax())
    x2 = clip(model, 128, 160, seed=5)
    with torch.inference_mode():
        ref2 = model(x2)
    out2 = backend(x2)
    assert float((out2 - ref2).abs().max()) < 1e-2 * max(1.0, float(ref2.abs().max()))
    torch.testing.assert_close(backend(inputs), out, atol=0, rtol=0)  # replaying the first graph again


@needs_cuda
def test_torch_cuda_graph_equals_no_graph(model, inputs) -> None:
    from slowfast_core.backends.torch_cuda import TorchCudaBackend

    dev = torch.device("cuda")
    a = TorchCudaBackend(model, dev, cuda_graph=True)(inputs)
    b = TorchCudaBackend(model, dev, cuda_graph=False)(inputs)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=0)


@pytest.mark.parametrize("crop", ["center", "full"])
def test_default_prepare_crops_normalises_and_gathers_each_pathway(model, crop) -> None:
    """The worker's inputs for one window, checked against a by-hand computation: pick each pathway's frames,
    crop (centre 112² of 112x150, or the full frame), /255, subtract the mean and divide by the std per
    channel, lay out as (1, 3, T_p, H, W)."""
    import numpy as np

    from slowfast_core.spec import Preprocessing

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (70, 112, 150, 3), dtype=np.uint8)  # (K, H, W, 3) RGB
    indices = [np.sort(rng.choice(70, size=c.frames, replace=False)) for c in model.config.geometry.pathways()]
    mean, std = (0.40, 0.45, 0.50), (0.20, 0.225, 0.25)  # unequal per channel: a swapped axis shows
    prep = Preprocessing(short_side=112, crop=crop, mean=mean, std=std)
    backend = create_backend(model, backend="torch-eager", device="cpu")
    got = backend.prepare(frames, indices, prep)
    x0 = (150 - 112) // 2 if crop == "center" else 0  # torchvision rounds (150 - 112) / 2 = 19
    width = 112 if crop == "center" else 150
    assert [tuple(t.shape) for t in got] == [(1, 3, len(i), 112, width) for i in indices]
    for tensor, idx in zip(got, indices):
        for k, frame_no in enumerate(idx):
            for c in range(3):
                pixels = frames[frame_no, :, x0 : x0 + width, c].astype(np.float64)  # (H, W)
                want = (pixels / 255.0 - mean[c]) / std[c]
                np.testing.assert_allclose(tensor[0, c, k].numpy(), want, atol=1e-5, rtol=0)


def test_register_refuses_a_name_that_is_taken() -> None:
    from slowfast_core.backends.base import TorchEagerBackend, register

    class Impostor(TorchEagerBackend):
        name = "torch-eager"

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    assert BACKENDS["torch-eager"] is TorchEagerBackend  # the measured one stays


def test_torch_cuda_keeps_graphs_for_the_last_shapes_only() -> None:
    """The torch-cuda backend's plan cache (a CUDA graph and pinned buffers per input shape): least recently
    used out, so trying many input sizes does not keep every one's GPU memory."""
    from slowfast_core.backends.torch_cuda import ShapeCache

    built: list[str] = []

    def build(key: str):
        return lambda: built.append(key) or f"plan {key}"

    cache: ShapeCache[str, str] = ShapeCache(2)
    assert cache.get("224", build("224")) == "plan 224"
    assert cache.get("160", build("160")) == "plan 160"
    assert cache.get("224", build("224")) == "plan 224"  # kept: not built again, now the most recent
    assert cache.get("128", build("128")) == "plan 128"  # full: 160, the least recently used, goes
    assert cache.keys() == ["224", "128"]
    assert cache.get("160", build("160")) == "plan 160"  # built again
    assert built == ["224", "160", "128", "160"] and cache.keys() == ["128", "160"]
    with pytest.raises(ConfigError):
        ShapeCache(0)


def test_torch_cuda_flags_are_set_only_around_its_own_calls() -> None:
    from slowfast_core.backends.torch_cuda import scoped_flags

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    try:
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = False, True, True
        with scoped_flags(benchmark=True, tf32=False):
            assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (True, False, False)
        assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (False, True, True)
        with scoped_flags(benchmark=True, tf32=None):  # fp16: TF32 left as the program set it
            assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (True, True, True)
        with pytest.raises(RuntimeError), scoped_flags(benchmark=True, tf32=False):
            raise RuntimeError("a failing forward")
        assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (False, True, True)
    finally:
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = before


@needs_cuda
def test_torch_cuda_leaves_the_process_flags_and_bounds_its_graphs(model, inputs) -> None:
    from slowfast_core.backends.torch_cuda import TorchCudaBackend

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    backend = TorchCudaBackend(model, torch.device("cuda"), precision="fp32", max_shapes=1)
    backend(inputs)
    backend(clip(model, 128, 160, seed=5))
    assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == before
    assert len(backend._plans.keys()) == 1


def test_torch_cpu_leaves_a_core_to_a_conversion_child_while_it_runs() -> None:
    """While one of our CPU-bound children runs (an OpenVINO conversion beside the live view), torch-cpu infers
    on one thread fewer, set on the thread that infers (OpenMP's count is per thread), and takes it back after."""
    from slowfast_core.backends.torch_cpu import TorchCPUBackend
    from slowfast_core.children import busy_child, children_busy

    model = create_model("slowfast_tiny", seed=0)
    backend = TorchCPUBackend(model, torch.device("cpu"), num_threads=2)
    inputs = clip(model, size=32)
    seen: list[int] = []

    def infer() -> None:
        backend(inputs)
        seen.append(torch.get_num_threads())

    def on_a_thread() -> None:
        worker = threading.Thread(target=infer)
        worker.start()
        worker.join(60)

    on_a_thread()
    with busy_child():
        assert children_busy() == 1
        on_a_thread()
    assert children_busy() == 0
    on_a_thread()
    assert seen == [2, 1, 2]
