"""The window's persistent preferences, stored with QSettings.

`AppSettings` is a plain dataclass (testable without Qt); `SettingsStore` reads and writes it through a
QSettings object. Tests pass their own INI file so they never touch the user's settings.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings

from slowfast_core.model.config import DEFAULT_ARCH
from slowfast_core.model.detection import is_detection_arch

logger = logging.getLogger(__name__)

ORGANIZATION = "SlowFastLive"
APPLICATION = "slowfast-app"

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "openvino", "torch-cuda", "torch-cpu", "torch-eager")
#: Short sides offered in the settings dialog; 0 means Auto (app/quality.py: the largest that keeps up here).
INPUT_SIZES = (0, 112, 160, 192, 224, 256)
DEFAULT_LABELS = ("wave", "clap", "drink", "sit down", "stand up")
DEFAULT_WEIGHTS = "SLOWFAST_8x8_R50"
#: the detection preset run with random weights when no detection weights are chosen (small: it runs on any CPU)
DEFAULT_DETECT_ARCH = "slowfast_tiny_detection"


@dataclass
class AppSettings:
    """Everything the window remembers between runs.

    source: the last used source spec ("" = none yet), as `parse_source` understands it.
    backend: the inference backend ("auto": the fastest that works here, see slowfast_core.backends).
    arch / weights: the model preset and its weights (a registry name, a checkpoint path, or "" = untrained).
    input_size: the model's input short side (0 = Auto: measured once per machine + model, see app/quality.py).
    detect: View -> Detection (who is doing what) is on. detect_weights: the detection model (a detection registry
    name, a `slowfast train --task detect` checkpoint, or "" = random weights of detect_arch); detector: the
    person detector ("" = the default for the device, a torchvision registry name, or scene:N).
    """

    source: str = ""
    arch: str = DEFAULT_ARCH
    weights: str = DEFAULT_WEIGHTS
    device: str = "auto"
    backend: str = "auto"
    input_size: int = 0
    stride_s: float = 0.5
    topk: int = 5
    threshold: float = 0.2
    smoothing: int = 3
    labels: list[str] = field(default_factory=lambda: list(DEFAULT_LABELS))
    sessions_root: str = ""
    recent_files: list[str] = field(default_factory=list)
    detect: bool = False
    detect_weights: str = ""
    detect_arch: str = DEFAULT_DETECT_ARCH
    detector: str = ""

    def validated(self) -> "AppSettings":
        """A copy with every out-of-range value replaced by its default (settings files get hand-edited)."""
        default = AppSettings()
        out = dataclasses.replace(self)
        if out.device not in DEVICES:
            out.device = default.device
        if out.backend not in BACKENDS:
            out.backend = default.backend
        if out.input_size not in INPUT_SIZES:
            out.input_size = default.input_size
        if not 0.05 <= out.stride_s <= 10.0:
            out.stride_s = default.stride_s
        if not 1 <= out.topk <= 10:
            out.topk = default.topk
        if not 0.0 <= out.threshold <= 1.0:
            out.threshold = default.threshold
        if not 1 <= out.smoothing <= 30:
            out.smoothing = default.smoothing
        out.labels = [s.strip() for s in out.labels if s.strip()][:9] or list(DEFAULT_LABELS)
        out.recent_files = [s for s in out.recent_files if s][:8]
        if not is_detection_arch(out.detect_arch):
            out.detect_arch = default.detect_arch
        out.detect_weights, out.detector = out.detect_weights.strip(), out.detector.strip()
        return out


def default_sessions_root() -> Path:
    """Where sessions go unless configured: ~/SlowFastSessions."""
    return Path.home() / "SlowFastSessions"


class SettingsStore:
    """Loads and saves `AppSettings` through one QSettings object.

    path: an INI file to use instead of the platform's user settings (tests, portable installs).
    """

    def __init__(self, *, path: str | Path | None = None) -> None:
        if path is not None:
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self._qs = QSettings(ORGANIZATION, APPLICATION)

    @property
    def location(self) -> str:
        """The file the settings live in (shown in About and handy in bug reports)."""
        return self._qs.fileName()

    def load(self) -> AppSettings:
        """Read every field, falling back to defaults for missing or unreadable values."""
        out = AppSettings()
        for f in dataclasses.fields(AppSettings):
            if not self._qs.contains(f.name):
                continue
            raw = self._qs.value(f.name)
            current = getattr(out, f.name)
            try:
                setattr(out, f.name, _coerce(raw, current))
            except (TypeError, ValueError):
                logger.warning("ignoring unreadable setting %s=%r in %s", f.name, raw, self.location)
        return out.validated()

    def save(self, settings: AppSettings) -> None:
        """Write every field and flush to disk now (a crash later must not lose them)."""
        for f in dataclasses.fields(AppSettings):
            value = getattr(settings, f.name)
            self._qs.setValue(f.name, list(value) if isinstance(value, list) else value)
        self._qs.sync()

    def value(self, key: str, default: object = None) -> object:
        """A raw extra value (window geometry and the like)."""
        return self._qs.value(key, default)

    def set_value(self, key: str, value: object) -> None:
        """Store a raw extra value."""
        self._qs.setValue(key, value)
        self._qs.sync()


def _coerce(raw: object, like: object) -> object:
    """QSettings hands back strings from INI files: turn `raw` into the type of `like`."""
    if isinstance(like, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
    if isinstance(like, int):
        return int(raw)  # type: ignore[arg-type]
    if isinstance(like, float):
        return float(raw)  # type: ignore[arg-type]
    if isinstance(like, list):
        if raw is None or raw == "":
            return []
        if isinstance(raw, (list, tuple)):
            return [str(x) for x in raw]
        return [str(raw)]  # a one-element list comes back as a plain string
    return "" if raw is None else str(raw)
