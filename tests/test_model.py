"""The network: shapes for every preset and fusion kind, adaptive head, config errors, PyTorchVideo layout."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from slowfast_core import create_model
from slowfast_core.errors import ConfigError
from slowfast_core.model import FUSION_KINDS, PRESETS, SlowFast, get_config
from slowfast_core.model.builder import with_classes, with_preprocessing
from slowfast_core.model.flops import example_inputs
from slowfast_core.model.net import MIN_SHORT_SIDE
from slowfast_core.spec import ModelMeta


def _inputs(model: SlowFast, size: int, batch: int = 1) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn_like(t) for t in example_inputs(model, size, batch)]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_with_its_geometry(name: str) -> None:
    with torch.device("meta"):  # shapes only: the R101 presets are big
        model = SlowFast(get_config(name))
        logits = model(example_inputs(model, 112))
    assert logits.shape == (1, 400)
    geometry = model.config.geometry
    assert [t.shape[2] for t in example_inputs(model, 112)] == [p.frames for p in geometry.pathways()]


def test_forward_returns_logits_that_depend_on_the_input() -> None:
    model = create_model("slowfast_8x8_r50", num_classes=7, slow_frames=2)  # 2 Slow / 8 Fast frames
    x = _inputs(model, 112, batch=2)
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    assert not torch.allclose(logits[0], logits[1])  # different clips, different answers


@pytest.mark.parametrize("size", [(112, 112), (160, 160), (128, 171), (256, 256)])
def test_head_adapts_to_any_input_size(size: tuple[int, int]) -> None:
    model = create_model("slowfast_8x8_r50", num_classes=5, slow_frames=2)
    x = [torch.randn(1, 3, t.shape[2], *size) for t in example_inputs(model, 112)]
    with torch.inference_mode():
        assert model(x).shape == (1, 5)


def test_pytorchvideo_fixed_pool_fails_at_160_where_ours_works() -> None:
    hub = pytest.importorskip("pytorchvideo.models.hub")
    ref = hub.slowfast_r50(model_num_class=5).eval()
    x = [torch.randn(1, 3, 8, 160, 160), torch.randn(1, 3, 32, 160, 160)]
    with pytest.raises(RuntimeError), torch.inference_mode():
        ref(list(x))  # PyTorchVideo overwrites the list it is given
    ours = create_model("slowfast_8x8_r50", num_classes=5)
    with torch.inference_mode():
        assert ours(x).shape == (1, 5)


@pytest.mark.parametrize("fusion", FUSION_KINDS)
def test_fusion_kinds_change_slow_width_as_the_paper_says(fusion: str) -> None:
    config = get_config("slowfast_4x16_r50", fusion=fusion, num_classes=3, slow_frames=2)
    model = SlowFast(config).eval()
    fast_stem = 64 // 8
    expected_extra = {"tconv": 2 * fast_stem, "tsample": fast_stem, "ttoc_concat": 8 * fast_stem,
                      "ttoc_sum": 0, "none": 0}[fusion]
    assert config.pathway_specs()[0].stages[0].dim_in == 64 + expected_extra
    with torch.inference_mode():
        assert model(_inputs(model, 112)).shape == (1, 3)


def test_slow_only_and_fast_only_take_one_input() -> None:
    slow = create_model("slow_4x16_r50", num_classes=3)
    fast = create_model("fast_32x2_r50", num_classes=3)
    assert slow.num_pathways == fast.num_pathways == 1
    with torch.inference_mode():
        assert slow([torch.randn(1, 3, 4, 112, 112)]).shape == (1, 3)
        assert fast([torch.randn(1, 3, 32, 112, 112)]).shape == (1, 3)
    assert fast.config.head_in_features == 2048 // 8


def test_clip_length_any_multiple_of_alpha() -> None:
    model = create_model("slowfast_8x8_r50", num_classes=3)
    with torch.inference_mode():
        for t in (1, 3, 5):
            assert model([torch.randn(1, 3, t, 112, 112), torch.randn(1, 3, 4 * t, 112, 112)]).shape == (1, 3)


def test_bad_inputs_raise_clear_errors() -> None:
    model = create_model("slowfast_8x8_r50", num_classes=3)
    with pytest.raises(ConfigError, match="takes 2 input"):
        model([torch.randn(1, 3, 8, 112, 112)])
    with pytest.raises(ConfigError, match="alpha=4"):
        model([torch.randn(1, 3, 8, 112, 112), torch.randn(1, 3, 16, 112, 112)])
    with pytest.raises(ConfigError, match=r"\(B, 3, T, H, W\)"):
        model([torch.randn(1, 1, 8, 112, 112), torch.randn(1, 3, 32, 112, 112)])
    with pytest.raises(ConfigError, match=f"short side must be >= {MIN_SHORT_SIDE}$"):  # said 112 while it checked 32
        model([torch.randn(1, 3, 8, 31, 40), torch.randn(1, 3, 32, 31, 40)])
    assert model([torch.randn(1, 3, 8, 32, 32), torch.randn(1, 3, 32, 32, 32)]).shape == (1, 3)


@pytest.mark.parametrize(
    ("name", "overrides", "match"),
    [
        ("nope", {}, "unknown architecture"),
        ("slowfast_r50", {"depth": 34}, "depth 34"),
        ("slowfast_r50", {"fusion": "magic"}, "unknown fusion"),
        ("slowfast_r50", {"fusion": "ttoc_sum"}, "alpha\\*beta = 1"),  # alpha 4, beta 1/8
        ("slowfast_r50", {"fusion_kernel": 4}, "odd"),
        ("slowfast_r50", {"colour": "red"}, "unknown model option"),
        ("slowfast_r50", {"alpha": 0}, "alpha"),
        ("slowfast_tiny", {"fast_min_channels": 0}, "fast_min_channels 0 must be in 1..64"),
        ("slowfast_tiny", {"fast_input": "flow"}, "unknown Fast input 'flow': use one of rgb, diff"),
    ],
)
def test_bad_config_raises_value_error(name: str, overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        get_config(name, **overrides)


def test_aliases_and_pytorchvideo_key_layout() -> None:
    hub = pytest.importorskip("pytorchvideo.models.hub")
    assert get_config("slowfast_r50") == get_config("slowfast_8x8_r50")
    assert get_config("SlowFast_R101").name == "slowfast_8x8_r101"
    with torch.device("meta"):
        ours = SlowFast(get_config("slowfast_r50"))
        ref = hub.slowfast_r50()
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert set(ours_sd) == set(ref_sd)
    assert all(ours_sd[k].shape == ref_sd[k].shape for k in ref_sd)


def test_untrained_model_says_so_and_names_kinetics_classes() -> None:
    model = create_model("slowfast_8x8_r50")
    assert not model.meta.trained
    assert len(model.meta.categories) == 400
    assert "arm wrestling" in model.meta.categories


def test_meta_is_given_at_build_and_read_only() -> None:
    model = create_model("fast_tiny", categories=("wave", "clap"), input_size=64)
    assert model.meta.categories == ("wave", "clap") and model.config.num_classes == 2
    assert model.meta.preprocessing.short_side == 64 and not model.meta.trained
    with pytest.raises(AttributeError):
        model.meta = replace(model.meta, categories=("a", "b"))
    assert model.meta.categories == ("wave", "clap")
    with pytest.raises(ValueError, match="3 categories for a 2-class"):
        SlowFast(model.config, meta=ModelMeta(("a", "b", "c")))
    with pytest.raises(ValueError, match="num_classes=3 but 2 categories"):
        create_model("fast_tiny", num_classes=3, categories=("a", "b"))


def test_with_classes_and_with_preprocessing_build_a_new_model_and_leave_the_old_one_as_it_was() -> None:
    torch.manual_seed(0)
    base = create_model("fast_tiny", categories=("a", "b", "c"), input_size=48)
    head = torch.nn.Linear(base.config.head_in_features, 2)
    new = with_classes(base, ("x", "y"), head=head)
    assert base.meta.categories == ("a", "b", "c") and base.config.num_classes == 3
    assert new.meta == replace(base.meta, categories=("x", "y"), weights=None) and new.config.num_classes == 2
    x = _inputs(base, 48)
    with torch.inference_mode():
        torch.testing.assert_close(new.features(x), base.features(x))
        torch.testing.assert_close(new(x), head(base.features(x)))
        torch.testing.assert_close(with_classes(base, ("p", "q", "r"), keep_head=True)(x), base(x))
    with pytest.raises(ValueError, match="keep_head"):
        with_classes(base, ("p", "q"), keep_head=True)
    resized = with_preprocessing(base, replace(base.meta.preprocessing, short_side=64))
    assert resized.meta == replace(base.meta, preprocessing=replace(base.meta.preprocessing, short_side=64))
    assert base.meta.preprocessing.short_side == 48  # the model it came from is as it was
    with torch.inference_mode():
        torch.testing.assert_close(resized(x), base(x))


def test_create_model_keeps_a_fine_tuned_head_unless_asked(tmp_path) -> None:
    tuned = create_model("fast_32x2_r50", num_classes=7)
    path = tmp_path / "tuned.pyth"
    torch.save({"model_state": tuned.state_dict()}, path)
    x = [torch.randn(1, 3, 32, 112, 112)]
    loaded = create_model("fast_32x2_r50", weights=str(path))
    assert loaded.config.num_classes == 7
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), tuned(x))
    fresh = create_model("fast_32x2_r50", weights=str(path), num_classes=3)
    assert fresh.config.num_classes == 3
    torch.testing.assert_close(fresh.blocks[0].multipathway_blocks[0].conv.weight,
                               tuned.blocks[0].multipathway_blocks[0].conv.weight)


def _kill_fast_stem_channel(net: SlowFast, channel: int) -> None:
    """What training did to the stalled runs' one-channel Fast stem (BN bias -3.6, weight ~0): the channel's
    ReLU is zero for every input."""
    bn = net.blocks[0].multipathway_blocks[1].norm
    with torch.no_grad():
        bn.weight[channel] = 0.0
        bn.bias[channel] = -10.0


@pytest.mark.parametrize(("floor", "fast_matters"), [(1, False), (4, True)])
def test_a_dead_stem_channel_silences_a_one_channel_fast_pathway_but_not_a_floored_one(floor: int,
                                                                                       fast_matters: bool) -> None:
    """At 1/8 width and beta 1/16 the Fast stem is one channel: once its ReLU is dead, nothing of the Fast input
    reaches the output (the tick cannot be learnt, whatever the seed). With `fast_min_channels` 4, one dead
    channel leaves three that carry it."""
    torch.manual_seed(0)
    net = SlowFast(get_config("slowfast_tiny", beta_inv=16, fast_min_channels=floor, num_classes=6)).eval()
    assert net.config.pathway_specs()[1].stem_dim == floor
    _kill_fast_stem_channel(net, 0)
    slow, fast = torch.randn(2, 3, 4, 80, 80), torch.randn(2, 3, 16, 80, 80)
    with torch.inference_mode():
        a, b = net([slow, fast]), net([slow, fast.flip(2) * 3.0])  # another Fast clip, the same Slow one
    assert (not torch.allclose(a, b, atol=1e-6)) is fast_matters


def test_fast_min_channels_is_saved_with_the_model_and_old_checkpoints_read_as_one(tmp_path) -> None:
    from slowfast_core.weights.checkpoint import load_weights
    from slowfast_core.weights.native import save_model

    torch.manual_seed(0)
    net = SlowFast(get_config("slowfast_tiny", beta_inv=16, fast_min_channels=4, num_classes=3))
    save_model(net, tmp_path / "m.pyth")
    again = load_weights(str(tmp_path / "m.pyth"))
    assert again.config.fast_min_channels == 4 and again.config.pathway_specs()[1].stem_dim == 4
    x = [torch.randn(1, 3, 4, 80, 80), torch.randn(1, 3, 16, 80, 80)]
    with torch.inference_mode():
        assert torch.equal(net.eval()(x), again.eval()(x))
    assert "fast_min_channels" in torch.load(tmp_path / "m.pyth", weights_only=True)["slowfast_live"]["config"]
    torch.manual_seed(0)
    thin = SlowFast(get_config("slowfast_tiny", beta_inv=16, num_classes=3))
    save_model(thin, tmp_path / "old.pyth")
    stored = torch.load(tmp_path / "old.pyth", weights_only=True)
    stored["slowfast_live"]["config"].pop("fast_min_channels")  # written before the field existed
    torch.save(stored, tmp_path / "old.pyth")
    assert load_weights(str(tmp_path / "old.pyth")).config.fast_min_channels == 1


def _clip_with_a_mover(frames: int, seed: int) -> torch.Tensor:
    """(1, 3, frames, 80, 80): a fixed random background plus a bright square that steps right each frame (added to
    it, not drawn over it: an occluding object's differences would show the background it uncovers)."""
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(1, 3, 1, 80, 80, generator=g).repeat(1, 1, frames, 1, 1)
    for t in range(frames):
        clip[:, :, t, 30:42, 10 + 3 * t:22 + 3 * t] += 2.0
    return clip


@pytest.mark.parametrize("layout", ["slowfast_tiny", "fast_tiny"])
def test_a_diff_fast_input_sees_what_changes_and_nothing_that_stays(layout: str) -> None:
    """fast_input "diff" (Table 5c's time difference): the Fast pathway's pooled feature is the same for a moving
    object over any still background, and differs when the motion does; with "rgb" (same weights) the
    background changes it. Slow keeps its frames: its feature moves with the background either way."""
    torch.manual_seed(0)
    rgb = SlowFast(get_config(layout, beta_inv=16, fast_min_channels=4, num_classes=3)).eval()
    diff = SlowFast(get_config(layout, beta_inv=16, fast_min_channels=4, fast_input="diff", num_classes=3)).eval()
    diff.load_state_dict(rgb.state_dict())  # the same parameters: the input is all that differs
    assert [p.time_difference for p in diff.config.pathway_specs()] == [False, True][-diff.num_pathways:]
    fast_dim = diff.config.pathway_specs()[-1].stages[-1].dim_out

    def fast_and_slow(net: SlowFast, background_seed: int, still: bool = False):
        fast = _clip_with_a_mover(16, background_seed)
        if still:
            fast = fast[:, :, :1].repeat(1, 1, 16, 1, 1)
        x = [fast[:, :, ::4].clone(), fast] if net.num_pathways == 2 else [fast]
        with torch.inference_mode():
            f = net.features(x)  # (1, C_slow + C_fast)
        return f[:, -fast_dim:], f[:, :-fast_dim]

    (fast_a, slow_a), (fast_b, slow_b) = fast_and_slow(diff, 1), fast_and_slow(diff, 2)
    torch.testing.assert_close(fast_a, fast_b, atol=1e-5, rtol=0)  # another still background: nothing changes
    assert not torch.allclose(fast_and_slow(diff, 1, still=True)[0], fast_a, atol=1e-3)  # the motion does
    assert not torch.allclose(fast_and_slow(rgb, 1)[0], fast_and_slow(rgb, 2)[0], atol=1e-3)
    if diff.num_pathways == 2:
        assert not torch.allclose(slow_a, slow_b, atol=1e-3)


def test_fast_input_is_saved_with_the_model_and_old_checkpoints_read_as_rgb(tmp_path) -> None:
    from slowfast_core.model.identity import backbone_digest
    from slowfast_core.weights.checkpoint import load_weights
    from slowfast_core.weights.native import save_model

    torch.manual_seed(0)
    net = SlowFast(get_config("slowfast_tiny", fast_input="diff", num_classes=3)).eval()
    save_model(net, tmp_path / "m.pyth")
    again = load_weights(str(tmp_path / "m.pyth")).eval()
    assert again.config.fast_input == "diff"
    x = [torch.randn(1, 3, 4, 80, 80), torch.randn(1, 3, 16, 80, 80)]
    with torch.inference_mode():
        assert torch.equal(net(x), again(x))
    rgb = SlowFast(get_config("slowfast_tiny", num_classes=3)).eval()
    rgb.load_state_dict(net.state_dict())
    save_model(rgb, tmp_path / "old.pyth")
    stored = torch.load(tmp_path / "old.pyth", weights_only=True)
    stored["slowfast_live"]["config"].pop("fast_input")  # written before the field existed
    torch.save(stored, tmp_path / "old.pyth")
    assert load_weights(str(tmp_path / "old.pyth")).config.fast_input == "rgb"
    # the same weights give other features with the other input, so recorded features must not be mixed up
    assert backbone_digest(net, 80) != backbone_digest(rgb, 80)


def test_the_backbone_digest_of_an_rgb_model_leaves_the_later_field_out() -> None:
    """A field added after features were recorded, at the value every older model has, is not hashed: the
    features recorded and the heads taught before `fast_input` existed keep their backbone's identity."""
    from slowfast_core.model.identity import digest_fields

    rgb, diff = get_config("slowfast_tiny"), get_config("slowfast_tiny", fast_input="diff")
    assert "fast_input" not in digest_fields(rgb) and digest_fields(diff)["fast_input"] == "diff"
    assert "num_classes" not in digest_fields(rgb) and digest_fields(rgb)["beta_inv"] == 4
