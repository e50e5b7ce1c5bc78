"""Key conversion from PySlowFast's layouts (PyTorch `.pyth` and Caffe2 `.pkl`) to ours.

Our state-dict keys are PyTorchVideo's (`blocks.N.multipathway_blocks.P...`). PySlowFast names the same
tensors by stage and pathway (`s2.pathway1_res0.branch2.a_bn.weight`, `s1_fuse.conv_f2s.weight`,
`head.projection.weight`); its Caffe2 checkpoints (the original release, and the only published source of
the SlowFast 4x16 R50 Kinetics weights) use Caffe2 blob names (`t_res2_0_branch2a_bn_s`, `t_pool1_subsample_w`,
`pred_w`). Caffe2 names are first turned into PySlowFast names, then PySlowFast names into ours, so each step
can be checked against PySlowFast's own converter (`slowfast/utils/c2_model_loading.py`).

Caffe2 blob grammar (prefix `t_` = Fast pathway, none = Slow):
    conv1_w / res_conv1_bn_{s,b,rm,riv}                 stem conv / BN
    res{S}_{I}_branch1_w / res{S}_{I}_branch1_bn_*      shortcut projection of block I of stage S
    res{S}_{I}_branch2{a,b,c}_w / ..._branch2{a,b,c}_bn_*  bottleneck convs / BNs
    t_pool1_subsample_w / t_pool1_subsample_bn_*        Fast->Slow fusion after the stem
    t_res{S}_{I}_branch2c_bn_subsample_w / ..._bn_*     Fast->Slow fusion after stage S (I: its last block)
    pred_w / pred_b                                     classifier
    *_momentum, lr, model_iter                          optimiser state: dropped
"""

from __future__ import annotations

import re

#: Caffe2 BN blob suffix -> PyTorch parameter/buffer name. `riv` is the running variance (as PySlowFast reads it).
_C2_BN_SUFFIX = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_C2_PARAM_SUFFIX = {"w": "weight", "b": "bias"}

_C2_FUSE_STEM = re.compile(r"^t_pool1_subsample_(?:bn_(?P<bn>s|b|rm|riv)|(?P<p>w|b))$")
_C2_FUSE_STAGE = re.compile(r"^t_res(?P<stage>\d+)_\d+_branch2c_bn_subsample_(?:bn_(?P<bn>s|b|rm|riv)|(?P<p>w|b))$")
_C2_STEM_CONV = re.compile(r"^(?P<t>t_)?conv1_(?P<p>w|b)$")
_C2_STEM_BN = re.compile(r"^(?P<t>t_)?res_conv1_bn_(?P<bn>s|b|rm|riv)$")
_C2_BRANCH = re.compile(
    r"^(?P<t>t_)?res(?P<stage>\d+)_(?P<block>\d+)_branch(?:1|2(?P<conv>[abc]))"
    r"_(?:bn_(?P<bn>s|b|rm|riv)|(?P<p>w|b))$"
)
_C2_PRED = re.compile(r"^pred_(?P<p>w|b)$")


def is_caffe2_optimizer_blob(name: str) -> bool:
    """True for Caffe2 blobs that hold optimiser state (momentum, learning rate, iteration), not weights."""
    return name.endswith("_momentum") or name in ("lr", "model_iter") or name.startswith("lr_")


def _c2_suffix(match: re.Match[str]) -> str:
    """The PyTorch name of a Caffe2 `_w`/`_b` or `_bn_{s,b,rm,riv}` suffix captured by `match`."""
    bn = match.groupdict().get("bn")
    if bn is not None:
        return _C2_BN_SUFFIX[bn]
    return _C2_PARAM_SUFFIX[match.group("p")]


def caffe2_to_pyslowfast_key(name: str) -> str | None:
    """PySlowFast's key for the Caffe2 blob `name`; None when the name follows no known pattern.

    Example: `t_res3_1_branch2b_bn_riv` -> `s3.pathway1_res1.branch2.b_bn.running_var`.
    """
    if m := _C2_FUSE_STEM.match(name):
        return f"s1_fuse.{'bn' if m.group('bn') else 'conv_f2s'}.{_c2_suffix(m)}"
    if m := _C2_FUSE_STAGE.match(name):
        return f"s{m.group('stage')}_fuse.{'bn' if m.group('bn') else 'conv_f2s'}.{_c2_suffix(m)}"
    if m := _C2_STEM_CONV.match(name):
        return f"s1.pathway{1 if m.group('t') else 0}_stem.conv.{_c2_suffix(m)}"
    if m := _C2_STEM_BN.match(name):
        return f"s1.pathway{1 if m.group('t') else 0}_stem.bn.{_c2_suffix(m)}"
    if m := _C2_BRANCH.match(name):
        prefix = f"s{m.group('stage')}.pathway{1 if m.group('t') else 0}_res{m.group('block')}"
        is_bn = m.groupdict().get("bn") is not None
        if m.group("conv"):  # branch2a/b/c
            module = f"branch2.{m.group('conv')}" + ("_bn" if is_bn else "")
        else:  # branch1
            module = "branch1_bn" if is_bn else "branch1"
        return f"{prefix}.{module}.{_c2_suffix(m)}"
    if m := _C2_PRED.match(name):
        return f"head.projection.{_c2_suffix(m)}"
    return None


_PSF_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"^s1\.pathway(\d+)_stem\.conv\.(\w+)$", r"blocks.0.multipathway_blocks.\1.conv.\2"),
        (r"^s1\.pathway(\d+)_stem\.bn\.(\w+)$", r"blocks.0.multipathway_blocks.\1.norm.\2"),
        (r"^s(\d)\.pathway(\d+)_res(\d+)\.branch1\.(\w+)$",
         r"blocks.{\1}.multipathway_blocks.\2.res_blocks.\3.branch1_conv.\4"),
        (r"^s(\d)\.pathway(\d+)_res(\d+)\.branch1_bn\.(\w+)$",
         r"blocks.{\1}.multipathway_blocks.\2.res_blocks.\3.branch1_norm.\4"),
        (r"^s(\d)\.pathway(\d+)_res(\d+)\.branch2\.([abc])\.(\w+)$",
         r"blocks.{\1}.multipathway_blocks.\2.res_blocks.\3.branch2.conv_\4.\5"),
        (r"^s(\d)\.pathway(\d+)_res(\d+)\.branch2\.([abc])_bn\.(\w+)$",
         r"blocks.{\1}.multipathway_blocks.\2.res_blocks.\3.branch2.norm_\4.\5"),
        (r"^s(\d)_fuse\.conv_f2s\.(\w+)$", r"blocks.{\1}.multipathway_fusion.conv_fast_to_slow.\2"),
        (r"^s(\d)_fuse\.bn\.(\w+)$", r"blocks.{\1}.multipathway_fusion.norm.\2"),
        (r"^head\.projection\.(\w+)$", r"blocks.6.proj.\1"),
    )
)
_STAGE_INDEX = re.compile(r"blocks\.\{(\d)\}")


def pyslowfast_to_ours_key(key: str) -> str | None:
    """Our key for PySlowFast's `key` (stage sN is our blocks.N-1); None when it has no counterpart.

    Example: `s2.pathway1_res0.branch2.a_bn.weight`
          -> `blocks.1.multipathway_blocks.1.res_blocks.0.branch2.norm_a.weight`.
    Keys without a counterpart (non-local blocks, detection heads) are returned as None so the caller can
    report them as unexpected.
    """
    for pattern, repl in _PSF_RULES:
        if pattern.match(key):
            out = pattern.sub(repl, key)
            return _STAGE_INDEX.sub(lambda m: f"blocks.{int(m.group(1)) - 1}", out)
    return None
