"""What a training run shows people: TensorBoard events (PySlowFast's tags) read back, curves.png and
confusion.png drawn by matplotlib, and a dataset given as its CSV file as well as its folder."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import pytest
import torch

from slowfast_core.cli import main
from slowfast_core.train.data import DataError, load_dataset
from slowfast_core.train.plots import confusion_png, curves_png


def read_events(folder: Path) -> list:
    """Every event of the TensorBoard files in `folder` (TFRecord framing: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2

    events = []
    for file in sorted(folder.glob("events.out.tfevents.*")):
        data, i = file.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[i + 12:i + 12 + n])
            events.append(event)
            i += 12 + n + 4
    return events


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic action classes, two short training clips each (val and test one each)."""
    from slowfast_core.train.synth import SynthSettings, generate

    out = tmp_path_factory.mktemp("synth2")
    generate(out, SynthSettings(classes=2, clips_per_class=2, eval_fraction=0.5, seconds=1.2, seed=7,
                                width=96, height=72))
    return out


def test_dataset_given_as_its_csv_file(synth, tmp_path):
    folder, csv_file = load_dataset([synth]), load_dataset([synth / "train.csv"])
    assert csv_file.categories == folder.categories
    for split in ("train", "val", "test"):
        assert [(e.path, e.label) for e in getattr(csv_file, split)] == [(e.path, e.label) for e in getattr(folder, split)]
    lines = (synth / "train.csv").read_text().splitlines()
    (synth / "mine.csv").write_text(f"{lines[0]}\n{lines[-1]}\n")  # one clip of each class
    try:
        mine = load_dataset([synth / "mine.csv"])  # another name: that file trains, val.csv beside it validates
        assert len(mine.train) == 2 and len(mine.val) == len(folder.val)
    finally:
        (synth / "mine.csv").unlink()
    with pytest.raises(DataError, match="is the val split: give the training CSV"):
        load_dataset([synth / "val.csv"])


def test_train_on_the_csv_with_tensorboard(synth, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(synth / "train.csv"), "--arch", "slowfast_tiny", "--from-scratch", "--epochs", "1",
                 "--batch-size", "4", "--workers", "0", "--no-flip", "--out", str(run), "--tensorboard"]) == 0
    logdir = run / f"runs-{synth.name}"  # PySlowFast's runs-<dataset>
    events = read_events(logdir)
    scalars: dict[str, dict[int, float]] = {}
    images = []
    for e in events:
        for v in e.summary.value:
            if v.HasField("image"):
                images.append((v.tag, e.step, v.image))
            else:
                scalars.setdefault(v.tag, {})[e.step] = v.simple_value
    for tag in ("Train/loss", "Train/Top1_err", "Train/lr", "Val/loss", "Val/Top1_err"):
        assert set(scalars[tag]) == {1}, tag
    import json

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in records:  # the same numbers as metrics.jsonl; top-1 as PySlowFast's error in percent
        assert scalars["Train/loss"][r["epoch"]] == pytest.approx(r["train_loss"], rel=1e-6)
        assert scalars["Val/Top1_err"][r["epoch"]] == pytest.approx(100 * (1 - r["val_top1"]), rel=1e-6)
    assert images and images[0][0] == "Val/Confusion_Matrix" and images[0][1] == 1
    picture = cv2.imdecode(__import__("numpy").frombuffer(images[0][2].encoded_image_string, "uint8"),
                           cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[0] > 100
    for name in ("curves.png", "confusion.png"):
        assert (run / name).read_bytes()[:4] == b"\x89PNG"


def test_plots_have_labeled_axes_and_integer_epochs():
    from matplotlib.figure import Figure

    history = [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.5 / e, "train_top1": 0.1 * e, "val_top1": None}
               for e in range(1, 6)]
    captured: list[Figure] = []
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        captured.append(fig)
        return original(fig, *args, **kwargs)

    Figure.savefig = keep  # type: ignore[method-assign]
    try:
        png = curves_png(history)
        confusion_png(torch.tensor([[3, 1], [0, 4]]), ["wave", "clap"])
    finally:
        Figure.savefig = original  # type: ignore[method-assign]
    assert png[:4] == b"\x89PNG"
    loss_ax, acc_ax = captured[0].axes
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("epoch", "cross-entropy loss")
    assert acc_ax.get_ylabel() == "top-1 accuracy (%)" and acc_ax.get_ylim() == (0.0, 100.0)
    ticks = [t for t in loss_ax.get_xticks() if 1 <= t <= 5]
    assert ticks and all(float(t).is_integer() for t in ticks)  # whole epochs on the x axis
    assert [l.get_text() for l in loss_ax.get_legend().get_texts()] == ["train", "validation"]
    assert [l.get_text() for l in acc_ax.get_legend().get_texts()] == ["train"]  # no val top-1 recorded
    conf_ax = captured[1].axes[0]
    assert [t.get_text() for t in conf_ax.get_xticklabels()] == ["wave", "clap"]
    assert (conf_ax.get_xlabel(), conf_ax.get_ylabel()) == ("predicted", "true")


def test_tensorboard_without_the_writer_is_one_line(synth, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as on a machine without it
    assert main(["train", str(synth), "--epochs", "1", "--out", str(tmp_path / "r"), "--tensorboard"]) == 2
    assert "--tensorboard needs the tensorboardX package" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
