"""Fixtures every test file may use (conftest.py imports them): real clips, the loopback guard, a local HTTP
server, and one fixed-weights checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from helpers.network import LocalServer, install_loopback_guard, running_server

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_VIDEO_DIR = REPO_ROOT.parent / "shared" / "realvideo"
#: the clips the tests read from ../shared/realvideo
REAL_CLIPS = ("demo.mp4", "demo_skeleton.mp4", "test.avi", "test.mp4")


@pytest.fixture(scope="session")
def realvideo() -> Path:
    """The folder of real clips (../shared/realvideo); skips the test when they are not beside the checkout."""
    missing = [name for name in REAL_CLIPS if not (REAL_VIDEO_DIR / name).is_file()]
    if missing:
        pytest.skip(f"real clips {', '.join(missing)} not found in {REAL_VIDEO_DIR} "
                    "(they live in ../shared/realvideo beside the repo)")
    return REAL_VIDEO_DIR


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches beyond 127.0.0.1: other names do not resolve and other addresses refuse to connect,
    as on a machine without network (every Python child process a test starts gets the same guard, and a
    refusal there fails the test: helpers/child_site and conftest's `no_network_from_children`)."""
    install_loopback_guard(monkeypatch.setattr)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 whose answers the test scripts (`serve(path, body, mode)`)."""
    with running_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def checkpoint_8x8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """slowfast_8x8_r50 with random but fixed weights as a PyTorchVideo `.pyth`, so that two processes (or
    two commands, or the window) load the same model."""
    return fixed_weights_checkpoint(tmp_path_factory.mktemp("weights") / "random_8x8.pyth", "slowfast_8x8_r50")


def fixed_weights_checkpoint(path: Path, arch: str, *, head_scale: float = 1.0) -> Path:
    """Save `arch` with random weights from seed 0 as a PyTorchVideo-style `.pyth` at `path`. head_scale > 1
    multiplies the classifier's weights, which spreads the otherwise nearly uniform initial probabilities."""
    from slowfast_core.model import get_config
    from slowfast_core.model.net import SlowFast

    torch.manual_seed(0)
    model = SlowFast(get_config(arch))
    if head_scale != 1.0:
        with torch.no_grad():
            model.blocks[-1].proj.weight.mul_(head_scale)  # the head: (classes, features)
    torch.save({"model_state": model.state_dict()}, path)
    return path


#: training options that keep the tiny runs short and deterministic (no loader workers, no flips, no warm-up)
FAST_TRAIN = dict(workers=0, flip=False, warmup_epochs=0.0)


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic actions classes 0-3, two training clips each (the training and teaching tests share it).

    The shapes task: the training and teaching tests' thresholds (8 clips overfit in 30 epochs; two taught
    classes agree >= 90%) were set on it. The pathways task is tested in test_synth_pathways/test_train_data."""
    from slowfast_core.train.synth import SynthSettings, generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthSettings(classes=4, clips_per_class=2, eval_fraction=0.5, seconds=1.2, seed=5, task="shapes"))
    return out


@pytest.fixture(scope="session")
def tiny_overfit(tiny_synth: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny SlowFast trained until it fits its 8 training clips: the training tests' run and the pretrained
    backbone the teaching tests teach new classes on (trained once per test session)."""
    from slowfast_core.train.loop import train
    from slowfast_core.train.recipe import TrainConfig

    out = tmp_path_factory.mktemp("overfit")
    config = TrainConfig(data=[str(tiny_synth)], out=str(out), epochs=30, batch_size=8, lr=0.1, dropout=0.0,
                         scale=(80, 80), crop=80, **FAST_TRAIN)
    return train(config)


@pytest.fixture(scope="session")
def teach_session(tiny_overfit, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(session folder, base checkpoint): the scripted actor performing classes 8 and 11 (new to the tiny
    backbone) while the real engine ran the backbone live and the recorder kept video, predictions and
    features, with labels at the script's times (`slowfast bench teach`'s recording, small)."""
    from slowfast_core.bench.teach import record
    from slowfast_core.train.run_folder import BEST
    from slowfast_core.train.teach import load_base

    base = str(tiny_overfit.out / BEST)
    session, _ = record(load_base(base), base, SMALL_TEACH, tmp_path_factory.mktemp("sessions"))
    return session, base


def _small_teach():
    from slowfast_core.bench.teach import TeachBenchSettings

    return TeachBenchSettings(classes=(8, 11), seconds=2.0, record_passes=2, live_seconds=6.0, backend="torch-cpu",
                              width=160, height=120, task="shapes")


#: the teaching tests' actor: two new classes, 2 s each, two passes to record, 6 s to recognise, 160x120
SMALL_TEACH = _small_teach()
