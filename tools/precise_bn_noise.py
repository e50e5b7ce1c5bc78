"""How much one validation reading moves from precise BN alone: a checkpoint's weights held fixed, its BN
statistics recomputed over N random training batches (the training loop's `recompute_bn`), then validated
(`evaluate_loader`), several draws per N. The README's "10-minute run" figures come from it:

    python tools/precise_bn_noise.py RUN/checkpoint_last.pyth DATA 5 20 [--draws 4]
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    from slowfast_core.train import distributed
    from slowfast_core.train import loop
    from slowfast_core.train.clips import ClipDataset, ClipSampling
    from slowfast_core.train.data import load_dataset
    from slowfast_core.train.recipe import TrainConfig, resolve
    from slowfast_core.train.start import build_model
    from slowfast_core.weights.checkpoint import load_weights

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights")
    p.add_argument("data")
    p.add_argument("batches", type=int, nargs="+", help="N: training batches per recomputation")
    p.add_argument("--draws", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(1)
    trained = load_weights(args.weights)
    config = resolve(TrainConfig(data=[args.data], out="-", arch=trained.config.name, workers=0, device="cpu"))
    d = distributed.setup("cpu")
    data = load_dataset(config.data, background=config.background, val_fraction=config.val_fraction, seed=config.seed)
    model = build_model(config, data.categories)
    model.load_state_dict(trained.state_dict())
    sampling = ClipSampling.for_model(model.config.geometry, model.meta.preprocessing, scale=config.scale,
                                      crop=config.crop, flip=config.flip)
    train_loader, sampler = loop._loader(ClipDataset(data.train, sampling, mode="train", seed=config.seed), d,
                                         batch=config.batch_size, shuffle=True, seed=config.seed, workers=0,
                                         drop_last=True)
    val_loader, _ = loop._loader(ClipDataset(data.val, sampling, mode="center", seed=config.seed), d,
                                 batch=config.batch_size, shuffle=False, seed=config.seed, workers=0, drop_last=False)
    for n in args.batches:
        config.precise_bn = n
        top1 = []
        for draw in range(args.draws):
            if sampler is not None:
                sampler.set_epoch(1000 + draw)
            loop.recompute_bn(config, d, model, train_loader)  # new random batches each draw
            confusion, _loss, _skipped = loop.evaluate_loader(model, val_loader, d, len(data.categories), False)
            top1.append(float(confusion.diag().sum() / confusion.sum()))
        print(f"{n} batches: val top-1 " + ", ".join(f"{t:.1%}" for t in top1))


if __name__ == "__main__":
    main()
