"""Is a checkpoint's Fast pathway alive? Per Fast stem channel, the share of zeros after its BN + ReLU, and how much
the stem's output changes from one frame to the next, on a dataset's validation clips (centre clips).

    python tools/fast_stem.py P4L RUN/checkpoint_last.pyth [MORE.pyth …] [--clips 16] [--jsonl]

A channel at 100% zeros is dead: no gradient reaches its filter again, and at the tiny presets' one-channel stem
(beta <= 1/8) the whole Fast pathway then sees nothing (README, "What stalls: a dead Fast stem"). The change
from frame to frame is the mean |x[t+1] - x[t]| over the stem's output: the tick lives there.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from torch.utils.data import DataLoader


def stem_stats(checkpoint: str, data: str, clips: int) -> dict:
    """{checkpoint, channels, zeros (per channel), change, bn_weight, bn_bias} of `checkpoint`'s Fast stem."""
    from slowfast_core.train.clips import ClipDataset, ClipSampling, collate
    from slowfast_core.train.data import load_dataset
    from slowfast_core.weights.checkpoint import load_weights

    net = load_weights(checkpoint).eval()
    if net.num_pathways < 2:
        raise SystemExit(f"{checkpoint}: a one-pathway model has no Fast stem beside a Slow one")
    split = load_dataset([data], val_fraction=0.1, seed=0)
    step = max(1, len(split.val) // clips)
    sampling = ClipSampling.for_model(net.config.geometry, net.meta.preprocessing)
    loader = DataLoader(ClipDataset(split.val[::step][:clips], sampling, mode="center", seed=0), batch_size=clips,
                        collate_fn=collate)
    inputs, _, _ = next(iter(loader))
    stem = net.blocks[0].multipathway_blocks[1]
    seen: list[torch.Tensor] = []
    hook = stem.register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.inference_mode():
        net(inputs)
    hook.remove()
    out = seen[0]  # (B, C, T, H, W) after the stem's BN, ReLU and max-pool
    return {"checkpoint": checkpoint, "channels": out.shape[1],
            "zeros": [round(v, 3) for v in (out == 0).float().mean(dim=(0, 2, 3, 4)).tolist()],
            "change": round((out[:, :, 1:] - out[:, :, :-1]).abs().mean().item(), 4),
            "bn_weight": [round(v, 3) for v in stem.norm.weight.tolist()],
            "bn_bias": [round(v, 3) for v in stem.norm.bias.tolist()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a `slowfast synth` folder (or any dataset `slowfast train` reads)")
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--clips", type=int, default=16, help="validation clips to look at")
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per checkpoint, one per line")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for checkpoint in args.checkpoints:
        row = stem_stats(checkpoint, args.data, args.clips)
        if args.jsonl:
            print(json.dumps(row))
        else:
            zeros = ", ".join(f"{100 * z:.0f}%" for z in row["zeros"])
            print(f"{checkpoint}: {row['channels']} channel(s), zeros {zeros}; frame-to-frame change {row['change']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
