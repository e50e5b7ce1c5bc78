"""Auto quality (slowfast_core.stream.quality), the start-up backend policy (backends.policy) and the figures
of `slowfast bench app` (app/bench.py): pure functions and small objects, fed given measurements and events."""

from __future__ import annotations

import torch
import pytest

from slowfast_core.backends import policy
from slowfast_core.backends.base import BACKENDS, InferenceBackend, available_backends
from app.bench import AppEvents, app_figures
from slowfast_core.stream.quality import (
    AutoQuality,
    QualityCache,
    QualityChoice,
    LiveTarget,
    candidate_sizes,
    decide,
    interim_size,
    live_stride,
    machine_id,
    model_id,
    predicted_ms,
)


def test_candidate_sizes_follow_the_weights() -> None:
    assert candidate_sizes(256) == (256, 224, 192, 160)
    assert candidate_sizes(224) == (224, 192, 160)
    assert candidate_sizes(80) == (80,)  # the tiny presets: their own size only


def test_decide_tries_only_sizes_predicted_to_fit_and_keeps_the_largest_that_does() -> None:
    sizes = (256, 224, 192, 160)
    assert decide(sizes, {}).size == 256 and not decide(sizes, {}).done  # nothing measured: the largest first
    assert decide(sizes, {256: 600.0}).size == 256 and decide(sizes, {256: 600.0}).done  # 1.67 updates/s
    # 256 far over: 224 and 192 are predicted over too (x0.77, x0.56 of 2270 ms), so they are never run;
    # the smallest is measured before giving up
    d = decide(sizes, {256: 2270.0})
    assert (d.size, d.done) == (160, False)
    d = decide(sizes, {256: 2270.0, 160: 800.0})
    assert (d.size, d.done) == (160, True) and "800 ms" in d.reason  # nothing fits: the smallest
    # the first start's interim size fits: the largest predicted within the slack is tried next (192: 450 ms
    # x 1.44 = 648 ms; 224: 882 ms, over 1.2 x 625 ms), then 224 from 192's measurement, then 256 fails
    assert decide(sizes, {160: 450.0}).size == 192
    assert decide(sizes, {160: 450.0, 192: 500.0}).size == 224  # 500 x 1.36 = 681 ms: within the slack
    assert decide(sizes, {160: 450.0, 192: 500.0, 224: 578.0}).done  # 256 at 578 x 1.31 = 755 ms: not tried
    d = decide(sizes, {160: 450.0, 192: 500.0, 224: 560.0})
    assert (d.size, d.done) == (256, False)  # 560 x 1.31 = 731 ms: worth a try
    d = decide(sizes, {160: 450.0, 192: 500.0, 224: 560.0, 256: 798.0})
    assert (d.size, d.done) == (224, True)  # 256 fails: every larger size is out, 224 is the choice
    d = decide(sizes, {160: 450.0, 192: 620.0})
    assert (d.size, d.done) == (192, True)  # 224 predicted at 844 ms: not tried, 192 is kept
    assert not decide(sizes, {256: 650.0}).done  # 650 ms allows only 1.54 updates/s: not live enough
    assert not decide(sizes, {256: 600.0}, worst={256: 900.0}).done  # one sample 900 ms behind: too late
    slow = LiveTarget(updates_per_s=1.0, delay_ms=1000.0)  # the target is a parameter
    assert decide(sizes, {256: 900.0}, slow, {256: 950.0}).done
    assert LiveTarget().fits(620.0, 790.0) and not LiveTarget().fits(630.0, 700.0)
    # what limits the rate is the time between two predictions, where measured: 603 ms end to end, one every
    # 710 ms (a window waits for its frame) is 1.4 updates/s, not live enough
    assert not LiveTarget().fits(603.0, 650.0, 710.0) and LiveTarget().fits(603.0, 650.0, 610.0)
    d = decide(sizes, {160: 323.0, 224: 603.0}, worst={224: 650.0}, intervals={160: 400.0, 224: 710.0})
    assert (d.size, d.done) == (192, False)  # 224 fails on its rate: 192 (400 ms x 1.44 = 576 ms) is tried
    assert predicted_ms(224, {160: 450.0, 256: 800.0}) == pytest.approx(450.0 * (224 / 160) ** 2)
    assert predicted_ms(192, {256: 800.0}) == pytest.approx(450.0)  # from above when nothing is below
    with pytest.raises(ValueError):
        decide((), {})


def test_auto_quality_skips_the_first_prediction_and_takes_the_median() -> None:
    search = AutoQuality((256, 224, 192))
    assert search.decision.size == 256
    assert search.observe(256, "openvino", 5000.0, 4900.0) is None  # first after a change: skipped
    assert search.observe(224, "openvino", 100.0, 90.0) is None  # not the size being measured
    assert search.observe(256, "openvino", 900.0, 800.0) is None
    assert search.observe(256, "openvino", 1000.0, 900.0) is None
    d = search.observe(256, "openvino", 950.0, 850.0)
    assert (d.size, d.done) == (224, False) and search.measured == {256: 950.0}
    for e2e in (9999.0, 600.0, 640.0, 620.0):
        d = search.observe(224, "openvino", e2e, e2e - 20)
    assert (d.size, d.done) == (224, True)
    choice = search.choice()
    assert (choice.size, choice.backend, choice.end_to_end_ms, choice.inference_ms) == (224, "openvino", 620.0, 600.0)
    assert choice.measured == {256: 950.0, 224: 620.0}
    assert choice.updates_per_s == pytest.approx(1000 / 620)
    assert choice.summary() == "auto 224² · 1.6 updates/s"
    assert search.observe(224, "openvino", 1.0, 1.0) is None  # done: nothing moves any more


def test_auto_quality_moves_on_at_once_from_a_size_far_over_budget() -> None:
    search = AutoQuality((256, 224, 160))
    assert search.observe(256, "openvino", 3000.0, 2900.0) is None  # skipped (first after a change)
    d = search.observe(256, "openvino", 2270.0, 2240.0)  # > 2x the delay: no need for three
    assert (d.size, d.done) == (160, False) and search.measured == {256: 2270.0}  # 224 predicted far over
    search.observe(160, "openvino", 1.0, 1.0)
    assert search.observe(160, "openvino", 1300.0, 1200.0) is None  # the smallest: always three samples
    paced = AutoQuality((224, 160), start=160)
    for e2e, gap in ((300.0, None), (320.0, 700.0), (330.0, 720.0), (310.0, 710.0)):  # fast, but far apart
        d = paced.observe(160, "openvino", e2e, e2e - 20, gap)
    assert d.done and d.size == 160 and paced.intervals == {160: 710.0}
    assert paced.choice().interval_ms == 710.0 and paced.choice().updates_per_s == pytest.approx(1000 / 710)
    started = AutoQuality((256, 224, 160), start=160)  # a size that runs already is measured first
    assert (started.decision.size, started.done) == (160, False)
    interim = AutoQuality((256, 224, 160), start=interim_size(256))  # a first start's 128: the smallest above it
    assert interim_size(256) == 128 and interim_size(80) == 80 and interim.decision.size == 160


def test_the_stride_follows_the_latency_never_below_what_was_asked() -> None:
    assert live_stride(0.5, None) == 0.5
    assert live_stride(0.5, 340.0) == 0.5
    assert live_stride(0.5, 612.0) == 0.65  # rounded up to 50 ms: the worker is free when the window is due
    assert live_stride(0.25, 2270.0) == 2.3


def test_quality_cache_per_machine_and_model(tmp_path) -> None:
    cache = QualityCache(tmp_path / "q" / "quality.json")
    assert cache.get("m", "x") is None  # no file yet
    choice = QualityChoice(size=192, backend="openvino", end_to_end_ms=610.0, inference_ms=590.0,
                           measured={256: 1200.0, 224: 900.0, 192: 610.0})
    cache.put("m", "x", choice)
    assert cache.get("m", "x") == choice
    assert cache.get("other machine", "x") is None and cache.get("m", "other model") is None
    (tmp_path / "q" / "quality.json").write_text("{not json")
    assert cache.get("m", "x") is None  # a damaged file is an empty cache, not an error
    cache.put("m", "x", choice)
    assert cache.get("m", "x") == choice
    assert "threads" in machine_id("cpu")
    ckpt = tmp_path / "w.pyth"
    ckpt.write_bytes(b"1")
    assert model_id("slowfast_8x8_r50", "") == "slowfast_8x8_r50 | untrained"
    assert model_id("a", "SLOWFAST_8x8_R50") == model_id("b", "SLOWFAST_8x8_R50")  # the weights imply the arch
    assert str(ckpt.resolve()) in model_id("a", str(ckpt))


class _SlowToPrepare(InferenceBackend):
    """A stand-in faster backend that is not ready (its conversion has not run)."""

    name = "test-slow-to-prepare"
    is_ready = False

    @classmethod
    def ready(cls, model, device) -> bool:
        return cls.is_ready

    def __call__(self, inputs):  # pragma: no cover - never run
        raise NotImplementedError


def test_start_plan_starts_on_what_is_ready_and_targets_the_fastest(monkeypatch) -> None:
    from slowfast_core import create_model

    model = create_model("slowfast_tiny", seed=0)
    available_backends(torch.device("cpu"))  # every backend module registered
    monkeypatch.setitem(BACKENDS, _SlowToPrepare.name, _SlowToPrepare)
    monkeypatch.setattr(policy, "check_backend",
                        lambda backend, device: (torch.device("cpu"), [_SlowToPrepare.name, "torch-cpu", "torch-eager"]))
    assert policy.plan_start(model) == policy.StartPlan("torch-cpu", _SlowToPrepare.name)
    monkeypatch.setattr(_SlowToPrepare, "is_ready", True)
    assert policy.plan_start(model) == policy.StartPlan("auto")  # the converted model is cached: start on it
    assert policy.plan_start(model, backend="torch-eager") == policy.StartPlan("torch-eager")  # asked for
    monkeypatch.setattr(_SlowToPrepare, "is_ready", False)
    assert policy.plan_start(model, live=False) == policy.StartPlan("auto")  # offline: one backend throughout
    monkeypatch.setattr(_SlowToPrepare, "usable_for", classmethod(lambda cls, m: False), raising=False)
    assert policy.plan_start(model) == policy.StartPlan("auto")  # not usable for this model: torch-cpu is first


def test_openvino_is_ready_only_with_its_converted_model_cached(tmp_path, monkeypatch) -> None:
    from slowfast_core import create_model
    from slowfast_core.backends import cache as model_cache
    from slowfast_core.backends.openvino_backend import OpenVINOBackend, cache_entry
    from slowfast_core.backends.openvino_convert import IR_XML

    import openvino

    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(tmp_path))
    model = create_model("slowfast_tiny", seed=0)
    cpu = torch.device("cpu")
    assert not OpenVINOBackend.ready(model, cpu)
    entry = cache_entry(model, openvino.__version__, model_cache.kind_dir("openvino", tmp_path))
    entry.mkdir(parents=True)
    (entry / IR_XML).write_text("<net/>")
    (entry / IR_XML).with_suffix(".bin").write_bytes(b"")
    assert OpenVINOBackend.ready(model, cpu)
    with torch.no_grad():
        model.blocks[6].proj.weight.add_(1.0)  # other weights (a taught head): another entry, not ready
    assert not OpenVINOBackend.ready(model, cpu)


def test_bench_app_figures_from_recorded_events() -> None:
    ev = AppEvents(launch=100.0)
    ev.step("window built", 101.0)
    ev.step("first prediction", 103.0)
    ev.step("first overlay", 103.1)
    ev.settled = 104.0  # Auto chose, the backend moved: the steady span starts here
    ev.predictions = [(103.0, 1, 2000.0), (105.0, 5, 400.0), (105.5, 6, 500.0), (106.0, 7, 450.0),
                      (106.5, 8, 700.0)]
    ev.frames = [104.0 + i / 30 for i in range(90)]  # 3 s of 30 fps
    ev.ticks = [104.0, 104.005, 104.2, 104.21, 107.0]
    ev.end = 108.0
    f = app_figures(ev)
    assert f["steady_s"] == 4.0
    assert f["updates_per_s"] == 1.0  # 4 predictions in the 4 s steady span (the first is before it)
    assert f["end_to_end_p50_ms"] == 475.0 and f["end_to_end_p95_ms"] == 700.0
    assert f["frames_shown_per_s"] == 22.5
    assert f["end_to_end_p95_ms_first_half"] == 500.0 and f["end_to_end_p95_ms_second_half"] == 700.0
    assert f["rss_growth_pct"] is None  # no memory samples: nothing claimed
    assert f["max_event_loop_gap_ms"] == pytest.approx(2790.0)
    assert f["first_overlay_s"] == 3.1
    # from the first overlay (103.1) on, the search's slow first prediction is before it: 4 in 4.9 s
    assert f["updates_per_s_from_first_overlay"] == round(4 / 4.9, 2) and f["settled_s"] == 4.0
    assert f["end_to_end_p95_ms_from_first_overlay"] == 700.0
    assert list(f["steps_s"]) == ["window built", "first prediction", "first overlay"]
    assert app_figures(AppEvents(launch=0.0, end=1.0))["first_overlay_s"] is None


def test_bench_app_soak_compares_memory_from_warm_up_to_the_end() -> None:
    ev = AppEvents(launch=0.0)
    ev.step("first overlay", 3.0)
    ev.settled = 10.0
    ev.end = 1810.0
    ev.rss = [(t, 900.0 if t < 70.0 else 1000.0 + (t - 70.0) / 1740.0 * 30.0) for t in range(0, 1811, 1)]
    f = app_figures(ev)
    # warm from 60 s into the steady span (t = 70 s: 1000 MiB; the start-up's 900 MiB does not count) to the end
    assert (f["rss_mb_warm"], f["rss_mb_end"], f["rss_growth_pct"]) == (1000.0, 1030.0, 3.0)


def test_the_recent_latency_starts_afresh_for_another_size_or_backend() -> None:
    from slowfast_core.stream.quality import RecentLatency

    recent = RecentLatency(3)
    assert recent.add(("openvino", 256), 900.0) == 900.0
    assert recent.add(("openvino", 256), 700.0) == 800.0
    # a smaller size runs: its own latency sets the stride from its first window, not the old size's median
    assert recent.add(("openvino", 160), 300.0) == 300.0
    assert live_stride(0.5, recent.add(("openvino", 160), 320.0)) == 0.5
    assert recent.add(("torch-cpu", 160), 650.0) == 650.0  # another backend too
    assert [recent.add(("torch-cpu", 160), ms) for ms in (600.0, 500.0, 400.0)] == [625.0, 600.0, 500.0]  # last 3
    recent.clear()
    assert recent.add(("torch-cpu", 160), 100.0) == 100.0
