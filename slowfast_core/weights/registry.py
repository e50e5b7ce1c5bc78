"""Named pretrained weights: where each checkpoint lives and everything needed to use it correctly.

A `WeightsEntry` carries the architecture preset, the URL, the class names, the preprocessing and the clip
geometry the checkpoint was trained with, so a checkpoint cannot be paired with the wrong settings
(torchvision's `Weights` enums do the same). Files are cached in torch's hub cache,
`torch.hub.get_dir()/checkpoints`, like every other torch model download. Anywhere a weights name is
accepted, a local checkpoint path works too (`resolve_weights`).

Sources (checked against each project's model zoo page):
- PyTorchVideo `docs/source/model_zoo.md`, Kinetics-400 (`.pyth`, `{"model_state": ...}`).
- PySlowFast `MODEL_ZOO.md`, Kinetics-400 Caffe2 models (`.pkl`, `{"blobs": ...}`), named `PYSLOWFAST_*`
  here to keep names unique.
- mmaction2 `configs/recognition/slowfast/README.md` (v1.0 model zoo), Kinetics-400 (`.pth`,
  `{"meta": ..., "state_dict": ...}`), named `MMACTION2_*`. Their architecture (laterals without BN, fusion
  kernel 5 for 4x16 and 7 for 8x8) and preprocessing (ImageNet mean/std) are mmaction2's: the `*_mmaction2`
  presets and `MMACTION2_PREPROCESSING`. Their clip geometry is the configs' `SampleFrames(clip_len=32,
  frame_interval=2)` with `resample_rate` tau and `speed_ratio` alpha: 4x16 (alpha 8) and 8x8 (alpha 4).
None of the three publishes full sha256 sums, so `sha256` is None for all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from slowfast_core.errors import WeightsError
from slowfast_core.files import not_regular
from slowfast_core.model.config import PRESETS
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.weights.convert_mmaction2 import MMACTION2_PREPROCESSING
from slowfast_core.weights.download import download_file
from slowfast_core.weights.labels import kinetics400_labels

WeightsSource = Literal["pytorchvideo", "pyslowfast", "mmaction2"]
WeightsFormat = Literal["pyth", "caffe2_pkl", "mmaction2_pth"]

PYTORCHVIDEO_KINETICS_URL = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
PYSLOWFAST_KINETICS_URL = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400"
MMACTION2_SLOWFAST_URL = "https://download.openmmlab.com/mmaction/v1.0/recognition/slowfast"

#: The anchors' test-time preprocessing for Kinetics: RGB /255, mean 0.45, std 0.225, short side 256, center crop.
KINETICS_PREPROCESSING = Preprocessing(mean=(0.45,) * 3, std=(0.225,) * 3, short_side=256, crop="center")


@dataclass(frozen=True)
class WeightsEntry:
    """One downloadable checkpoint and the settings it must be used with.

    `top1` is the Kinetics-400 top-1 accuracy (%) as its model zoo publishes it (30 views);
    `sha256` is None where the publisher gives no checksum.
    """

    name: str
    arch: str
    url: str
    file_name: str
    sha256: str | None
    source: WeightsSource
    format: WeightsFormat
    categories: tuple[str, ...]
    preprocessing: Preprocessing
    geometry: ClipGeometry
    top1: float
    description: str

    @property
    def num_classes(self) -> int:
        """How many classes the checkpoint's classifier predicts."""
        return len(self.categories)


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights spec turned into a file on disk; `entry` is None for a file the registry does not know."""

    path: Path
    entry: WeightsEntry | None


def _entry(
    name: str, arch: str, source: WeightsSource, fmt: WeightsFormat, geometry: ClipGeometry, top1: float,
    description: str,
) -> WeightsEntry:
    """A Kinetics-400 entry whose file name is `<NAME>.<ext>` under the source's model-zoo folder."""
    if source == "pytorchvideo":
        file_name, base = f"{name}.pyth", PYTORCHVIDEO_KINETICS_URL
    else:
        file_name, base = f"{name.removeprefix('PYSLOWFAST_')}.pkl", PYSLOWFAST_KINETICS_URL
    return WeightsEntry(
        name=name, arch=arch, url=f"{base}/{file_name}", file_name=file_name, sha256=None, source=source,
        format=fmt, categories=tuple(kinetics400_labels()), preprocessing=KINETICS_PREPROCESSING,
        geometry=geometry, top1=top1, description=description,
    )


def _mmaction2_entry(
    name: str, arch: str, config: str, stamp: str, geometry: ClipGeometry, top1: float, model: str
) -> WeightsEntry:
    """A Kinetics-400 entry of mmaction2's v1.0 model zoo: `<URL>/<config>/<config>_<stamp>.pth`.

    top1: the model zoo's 10 clips x 3 crops accuracy. The file name keeps mmaction2's own, so a file
    downloaded by hand is still recognised (by its name) as this entry.
    """
    file_name = f"{config}_{stamp}.pth"
    return WeightsEntry(
        name=name, arch=arch, url=f"{MMACTION2_SLOWFAST_URL}/{config}/{file_name}", file_name=file_name,
        sha256=None, source="mmaction2", format="mmaction2_pth", categories=tuple(kinetics400_labels()),
        preprocessing=MMACTION2_PREPROCESSING, geometry=geometry, top1=top1,
        description=f"{model}, Kinetics-400, mmaction2 model zoo ({config})",
    )


def _build_registry() -> dict[str, WeightsEntry]:
    entries = (
        _entry("SLOWFAST_8x8_R50", "slowfast_8x8_r50", "pytorchvideo", "pyth", ClipGeometry(8, 8, 4), 76.94,
               "SlowFast R50 8x8, Kinetics-400, PyTorchVideo model zoo (torch.hub slowfast_r50)"),
        _entry("SLOWFAST_8x8_R101", "slowfast_8x8_r101", "pytorchvideo", "pyth", ClipGeometry(8, 8, 4), 77.90,
               "SlowFast R101 8x8, Kinetics-400, PyTorchVideo model zoo (torch.hub slowfast_r101)"),
        _entry("SLOWFAST_16x8_R101_50_50", "slowfast_16x8_r101_50_50", "pytorchvideo", "pyth",
               ClipGeometry(16, 8, 4), 78.70,
               "SlowFast R101 16x8 (temporal res4 blocks 50%), Kinetics-400, PyTorchVideo model zoo"),
        _entry("PYSLOWFAST_SLOWFAST_4x16_R50", "slowfast_4x16_r50", "pyslowfast", "caffe2_pkl",
               ClipGeometry(4, 16, 8), 75.6,
               "SlowFast R50 4x16, Kinetics-400, original Caffe2 model from PySlowFast's model zoo"),
        _entry("PYSLOWFAST_SLOWFAST_8x8_R50", "slowfast_8x8_r50", "pyslowfast", "caffe2_pkl",
               ClipGeometry(8, 8, 4), 77.0,
               "SlowFast R50 8x8, Kinetics-400, original Caffe2 model from PySlowFast's model zoo"),
        _mmaction2_entry("MMACTION2_SLOWFAST_4x16_R50", "slowfast_4x16_r50_mmaction2",
                         "slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb", "20220901-701b0f6f",
                         ClipGeometry(4, 16, 8), 75.55, "SlowFast R50 4x16"),
        _mmaction2_entry("MMACTION2_SLOWFAST_8x8_R50", "slowfast_8x8_r50_mmaction2",
                         "slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb", "20220818-1cb6dfc8",
                         ClipGeometry(8, 8, 4), 76.80, "SlowFast R50 8x8"),
        _mmaction2_entry("MMACTION2_SLOWFAST_8x8_R101", "slowfast_8x8_r101_mmaction2",
                         "slowfast_r101_8xb8-8x8x1-256e_kinetics400-rgb", "20220818-9c0e09bd",
                         ClipGeometry(8, 8, 4), 78.65, "SlowFast R101 8x8"),
    )
    return {e.name: e for e in entries}


#: Every named weights entry, keyed by its exact name. Tests may swap an entry (e.g. its url) here.
REGISTRY: dict[str, WeightsEntry] = _build_registry()


def list_weights() -> list[WeightsEntry]:
    """All registry entries, in registration order."""
    return list(REGISTRY.values())


def weights_names() -> list[str]:
    """The registry names, in registration order."""
    return [e.name for e in REGISTRY.values()]


def find_weights(spec: str) -> WeightsEntry | None:
    """The entry named `spec` (case-insensitive), or whose file name is `spec`'s basename; else None."""
    key = spec.strip()
    if key in REGISTRY:
        return REGISTRY[key]
    for entry in REGISTRY.values():
        if entry.name.upper() == key.upper():
            return entry
    base = os.path.basename(key).lower()
    for entry in REGISTRY.values():
        if entry.file_name.lower() == base:
            return entry
    return None


def get_weights(name: str) -> WeightsEntry:
    """The entry `name` (case-insensitive; its file name works too). Unknown names raise WeightsError."""
    entry = find_weights(name)
    if entry is None:
        raise WeightsError(f"unknown weights {name!r}: use one of {', '.join(weights_names())} (slowfast weights list)")
    return entry


def cache_dir() -> Path:
    """torch's hub checkpoint cache (`$TORCH_HOME/hub/checkpoints`), where downloads go."""
    import torch.hub  # local: keeps `slowfast weights list` and label reading light until needed

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(entry: WeightsEntry) -> Path:
    """Where `entry`'s file lives (or will live) in the cache; it may not exist yet."""
    return cache_dir() / entry.file_name


def is_cached(entry: WeightsEntry) -> bool:
    """True when `entry`'s file is already in the cache."""
    return cached_path(entry).is_file()


def download_weights(entry: WeightsEntry, *, force: bool = False, progress: bool = True) -> Path:
    """Download `entry` into the cache (unless there already, or `force`) and return its path."""
    path = cached_path(entry)
    if path.is_file() and not force:
        return path
    return download_file(entry.url, path, sha256=entry.sha256, progress=progress)


def resolve_weights(spec: str, *, download: bool = True, progress: bool = True) -> ResolvedWeights:
    """Turn a weights spec (an existing file, or a registry name) into a file on disk.

    An existing file wins; its entry is the one whose file name matches its basename, else None. A registry
    name gives the cached file, downloaded first when missing and `download` is True. Anything else raises
    WeightsError saying what does not exist and pointing at `slowfast weights list`.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return ResolvedWeights(path=path.resolve(), entry=find_weights(path.name))
    if path.is_dir():
        raise WeightsError(f"weights {spec} is a folder: pass a checkpoint file or a name from `slowfast weights list`")
    kind = not_regular(path)
    if kind not in (None, "missing"):
        raise WeightsError(f"weights {spec} is {kind}, not a checkpoint file: pass a checkpoint file or a name "
                           "from `slowfast weights list`")
    entry = find_weights(spec) if not _looks_like_path(spec) else None
    if entry is None and not _looks_like_path(spec):
        from slowfast_core.weights.my_models import find_my_model

        taught = find_my_model(spec)  # a model taught in the window or with `slowfast teach`
        if taught is not None:
            return ResolvedWeights(path=taught.resolve(), entry=None)
    if entry is None:
        if _looks_like_path(spec):
            raise WeightsError(
                f"weights file {spec} does not exist: pass an existing checkpoint file, or a name from "
                f"`slowfast weights list` ({', '.join(weights_names())})"
            )
        raise WeightsError(
            f"unknown weights {spec!r} (no such file or registry name): use a checkpoint file path or one of "
            f"{', '.join(weights_names())} (`slowfast weights list`)"
        )
    cached = cached_path(entry)
    if cached.is_file():
        return ResolvedWeights(path=cached, entry=entry)
    if not download:
        raise WeightsError(
            f"weights {entry.name} are not downloaded yet: run `slowfast weights download {entry.name}`, or copy "
            f"{entry.file_name} to {cached}"
        )
    return ResolvedWeights(path=download_weights(entry, progress=progress), entry=entry)


def _looks_like_path(spec: str) -> bool:
    """True when `spec` names a location (has a folder part), not a bare registry or file name."""
    return os.sep in spec or (os.altsep is not None and os.altsep in spec) or spec.startswith("~")


def validate_registry() -> list[str]:
    """Consistency problems in the registry (empty when fine): unknown archs, geometry or class-count mismatches."""
    problems: list[str] = []
    seen_files: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for key, entry in REGISTRY.items():
        if key != entry.name:
            problems.append(f"{entry.name}: registered under {key!r}")
        if seen_names.setdefault(entry.name.upper(), entry.name) != entry.name:
            problems.append(f"{entry.name}: name differs only in case from {seen_names[entry.name.upper()]}")
        config = PRESETS.get(entry.arch)
        if config is None:
            problems.append(f"{entry.name}: unknown arch {entry.arch!r}")
            continue
        if entry.geometry != config.geometry:
            problems.append(f"{entry.name}: geometry {entry.geometry} differs from {entry.arch}'s {config.geometry}")
        if entry.num_classes != config.num_classes:
            problems.append(f"{entry.name}: {entry.num_classes} categories but {entry.arch} has {config.num_classes}")
        if not entry.url.endswith("/" + entry.file_name):
            problems.append(f"{entry.name}: url {entry.url} does not end with its file name {entry.file_name}")
        other = seen_files.setdefault(entry.file_name.lower(), entry.name)
        if other != entry.name:
            problems.append(f"{entry.name}: file name {entry.file_name} also used by {other}")
    return problems
