"""The one loading API: a weights spec (or an architecture) in; a ready model, its preprocessing, labels and
notices out. Every caller loads through here: `slowfast predict` and the other commands (`load_model`), head
teaching (`load_model` for the base), and the window (`load_ready` for a `ModelRequest`).

In the spirit of torchvision's `get_model`/`Weights`: the model that comes back carries its categories and
preprocessing in `model.meta` (fixed once built); a `ReadyModel` adds the preprocessing it runs with (another
input size is carried next to the model, never written into it), what a window shows about it, and why it is
not the model asked for (a notice), so nothing downstream loads, resizes or relabels on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slowfast_core.errors import SlowFastError
from slowfast_core.model.builder import UNTRAINED_SEED, build_untrained
from slowfast_core.model.config import DEFAULT_ARCH
from slowfast_core.model.identity import FeatureIdentity
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import Preprocessing
from slowfast_core.weights.head_file import attach_head, read_head


def create_model(
    name: str, *, num_classes: int | None = None, weights: str | None = None, seed: int | None = None,
    categories: Sequence[str] | None = None, input_size: int | None = None, **overrides: object,
) -> SlowFast:
    """Build the architecture `name` in eval mode, its metadata (`model.meta`) fixed from the start.

    weights: None for random (untrained) weights, else a registry name (`slowfast weights list`) or a path to
    a PyTorchVideo / PySlowFast checkpoint. num_classes: None means the checkpoint's (400 without weights);
    a number other than the checkpoint's keeps the backbone and starts a fresh head.
    categories: names of random weights' classes (their count is the head's; default: Kinetics-400's for 400
    classes, else "class i"). input_size: the input short side to run at (None: the weights' own, or the
    architecture's). Overrides change config fields (e.g. fusion="tsample", beta_inv=4). seed: random weights
    drawn from this seed (the global RNG is left as it was), e.g. `UNTRAINED_SEED`; None draws from the global RNG.
    """
    if weights is not None:
        if categories is not None:
            raise ValueError("categories name random weights' classes; weights bring their own")
        from slowfast_core.weights.checkpoint import load_weights

        return load_weights(weights, arch=name, num_classes=num_classes, input_size=input_size, **overrides)
    if categories is None and (num_classes is None or num_classes == 400):
        from slowfast_core.weights.labels import kinetics400_labels

        categories = kinetics400_labels()
    return build_untrained(name, num_classes=num_classes, seed=seed, categories=categories, input_size=input_size,
                           **overrides)


def load_model(weights: str | None = None, *, arch: str | None = None, input_size: int | None = None,
               download: bool = True) -> SlowFast:
    """The model for `weights`: a checkpoint file, a taught head file, a registry name or a My models name; None
    or "": the random weights of `arch` (else DEFAULT_ARCH), drawn from the fixed `UNTRAINED_SEED` so that every
    start runs the same ones (one converted model in the cache, not one per start). A head file's base is loaded
    once (at the size it was taught at unless `input_size` says) and checked to be the backbone it was fitted on.

    A checkpoint file keeps its own classifier head and has its architecture detected unless `arch` is given;
    a registry name brings its entry's architecture, categories and preprocessing. input_size: the short side to
    run at (None or 0: the weights' own). download: False refuses registered weights that are not on disk yet
    (WeightsError saying how to get them), for callers that must not wait on the network (the window).
    """
    size = int(input_size) if input_size else None
    if not weights:
        return create_model(arch or DEFAULT_ARCH, seed=UNTRAINED_SEED, input_size=size)
    local = _local_file(weights)
    head = read_head(local) if local is not None else None
    if head is not None:  # a taught head: its base once, the head on it (at the size it was taught at)
        base = load_model(head.base, arch=head.arch, input_size=size or head.identity.size, download=download)
        return attach_head(base, head, name=str(local))
    from slowfast_core.weights.checkpoint import load_weights

    if not download:
        from slowfast_core.weights.registry import resolve_weights

        resolved = resolve_weights(weights, download=False)  # raises when not downloaded
        weights = resolved.entry.name if resolved.entry is not None else str(resolved.path)
    return load_weights(weights, arch=arch, input_size=size)  # WeightsError for unknown names and missing paths


@dataclass(frozen=True)
class ModelRequest:
    """Which model to load. weights: registry name, checkpoint path, or "" for untrained (random) weights.

    explicit: the user asked for exactly this (a failure keeps the current model and shows the error);
    otherwise (start-up) a failure falls back to untrained weights with a notice saying how to fix it.
    """

    arch: str
    weights: str = ""
    input_size: int = 0
    explicit: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """What a window knows about the model that runs: shown in the overlay and the status bar."""

    arch: str = ""
    weights: str = ""  # registry name, file name, or "" for untrained
    trained: bool = False
    num_classes: int = 0
    input_size: int = 0

    @property
    def title(self) -> str:
        """Short name for the status bar, e.g. 'slowfast_8x8_r50 · SLOWFAST_8x8_R50'."""
        if not self.arch:
            return "no model"
        return f"{self.arch} · {self.weights}" if self.trained else f"{self.arch} · untrained"


def input_preprocessing(model: SlowFast, input_size: int = 0) -> Preprocessing:
    """`model`'s preprocessing with the input short side `input_size` (0: the model's own). Pure: `model` is
    not touched."""
    prep = model.meta.preprocessing
    if not input_size or prep.short_side == input_size:
        return prep
    return dataclasses.replace(prep, short_side=int(input_size))


@dataclass(frozen=True)
class ReadyModel:
    """A ready model, the preprocessing it runs with (None given: the model's own), what to show about it,
    and why it is not the one asked for (None when it is)."""

    model: SlowFast
    info: ModelInfo
    request: ModelRequest
    notice: str | None = None
    preprocessing: Preprocessing = field(default=None)  # type: ignore[assignment]  # filled in below
    identity: FeatureIdentity | None = None  # a taught head's: the backbone its classifier was fitted on

    def __post_init__(self) -> None:
        if self.preprocessing is None:
            object.__setattr__(self, "preprocessing", self.model.meta.preprocessing)

    @property
    def input_size(self) -> int:
        return self.preprocessing.short_side


def model_info(model: SlowFast, weights_label: str, preprocessing: Preprocessing | None = None) -> ModelInfo:
    """What a window shows about `model` run with `preprocessing` (None: its own)."""
    prep = preprocessing or model.meta.preprocessing
    return ModelInfo(
        arch=model.config.name, weights=weights_label if model.meta.trained else "", trained=model.meta.trained,
        num_classes=len(model.meta.categories), input_size=prep.short_side,
    )


def ready_model(model: SlowFast, request: ModelRequest, *, weights_label: str = "", input_size: int = 0,
                notice: str | None = None, identity: FeatureIdentity | None = None) -> ReadyModel:
    """`model` ready to run at `input_size` (0: its own), with what a window shows about it."""
    prep = input_preprocessing(model, input_size)
    return ReadyModel(model, model_info(model, weights_label, prep), request, notice, prep, identity)


def load_ready(request: ModelRequest) -> ReadyModel:
    """Build the requested model (slow: seconds; run it off the GUI thread). Registered weights must be on disk
    already (nothing is downloaded here). A request that is not `explicit` and fails falls back to the
    architecture's untrained weights with the failure as its notice; an explicit one raises (SlowFastError)."""
    notice = None
    model: SlowFast | None = None
    label = ""
    if request.weights:
        try:
            model = load_model(request.weights, download=False)
            label = _weights_label(model)
        except SlowFastError as exc:
            if request.explicit:
                raise
            notice = str(exc)
    if model is None:  # untrained: the fixed seed makes every start reuse one converted model
        model = load_model(None, arch=request.arch)
    return ready_model(model, request, weights_label=label, input_size=request.input_size, notice=notice)


def _local_file(weights: str) -> Path | None:
    """The file `weights` names on this machine: an existing path, or a My models name's file; else None (a
    registry name)."""
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    from slowfast_core.weights.my_models import find_my_model

    return find_my_model(weights)


def load_head_ready(path: str | Path, request: ModelRequest, running: SlowFast | None,
                    identity: FeatureIdentity | None, input_size: int = 0) -> ReadyModel:
    """A taught model at `path` ready for `Engine.swap_head`: a head file whose backbone `identity` is the
    one running (`running`) goes on that model in memory (nothing read from disk but the head, nothing hashed);
    anything else (another backbone, a whole model file) loads through `load_model`. input_size: what the
    window runs now (0: the model's own)."""
    head = read_head(path)
    known = head.identity if head is not None else None
    if head is not None and running is not None and head.identity == identity:
        model = attach_head(running, head, name=str(path), check=False)
    else:
        model = load_model(str(path), download=False)
    return ready_model(model, request, weights_label=Path(path).name, input_size=input_size, identity=known)


def _weights_label(model: SlowFast) -> str:
    """What a window calls loaded weights: the registry name, or a file's name (not its whole path)."""
    name = model.meta.weights or ""
    path = Path(name)
    return path.name if (path.is_absolute() or len(path.parts) > 1) and path.exists() else name
