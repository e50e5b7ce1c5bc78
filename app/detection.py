"""The window's Detection toggle: who is doing what (per-person boxes and actions) instead of the whole frame.

`DetectionController` turns the toggle into a wish to the engine controller (`requestPeople`: a
`DetectionRequest`, or None for the whole frame again); the controller builds the per-person step (detection
model + person detector + tracker) on its own thread and reports `peopleSwitched` once the engine runs it, or
`failed("detect", line)`. The live session keeps the wish: made before the engine runs, it is applied when it
starts (and again after every start, since a fresh engine starts on the whole frame). The view and the status
bar read the people from each prediction (`Prediction.people`), so they follow what the engine actually ran, not
what was asked.

The choice is remembered (`AppSettings.detect`, `detect_weights`, `detect_arch`, `detector`) when a person makes
it in the window and the engine runs it; `slowfast-app --detect/--detector/--detect-weights/--detect-arch`
override it for one run without being saved (`startup_choice`). A detection model picked in the Model menu
(`choose`) turns Detection on with it; one that fails to load is one line and the running one stays.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QObject, Signal, Slot

from app.engine_control import DetectionRequest, EngineController
from app.notices import NoticeModel
from app.settings import AppSettings
from app.settings_control import SettingsController


def request_from(settings: AppSettings, *, weights: str | None, arch: str | None,
                 detector: str | None) -> DetectionRequest:
    """A request at the window's action threshold and device: detection `weights` (None: random weights of
    `arch`), the person `detector` (None: the default for the device)."""
    return DetectionRequest(weights=weights or None, arch=None if weights else (arch or settings.detect_arch),
                            detector=detector or None, threshold=settings.threshold,
                            device=None if settings.device == "auto" else settings.device)


def saved_request(settings: AppSettings) -> DetectionRequest:
    """The detection model and person detector the settings remember."""
    return request_from(settings, weights=settings.detect_weights, arch=settings.detect_arch,
                        detector=settings.detector)


def startup_choice(settings: AppSettings, *, detect: bool | None = None, weights: str | None = None,
                   arch: str | None = None, detector: str | None = None) -> tuple[DetectionRequest, bool]:
    """What the window starts with: the saved choice, with each command-line flag given overriding its part for
    this run (`--detect-weights`/`--detect-arch` name the model together, as before; `--detector` the person
    detector; `--detect`/`--no-detect` the toggle). `settings` is not changed, so nothing of it is saved."""
    request = saved_request(settings)
    if weights is not None or arch is not None:
        request = dataclasses.replace(request, weights=weights or None,
                                      arch=arch or (None if weights else settings.detect_arch))
    if detector is not None:
        request = dataclasses.replace(request, detector=detector or None)
    return request, settings.detect if detect is None else bool(detect)


def same_detector(a: str | None, b: str | None) -> bool:
    """Whether two person detector names are the same detector (registry names are case-insensitive)."""
    return (a or "").upper() == (b or "").upper()


def person_detector_choices(current: str | None, source: str | None) -> list[tuple[str | None, str]]:
    """The person detectors a person can pick, as (name, text): None for the device's default, torchvision's
    Faster R-CNNs as the detection registry names them ("(download)" until cached), scene:N where the source
    is a multi-actor synthetic scene (or one is in use), and `current` itself when it is none of these (named
    by a flag). The one list of the Model menu's Person detector submenu and the Settings dialog."""
    from slowfast_core.detect.factory import scene_detector_names
    from slowfast_core.weights.detection_registry import cached_detection_path, detection_registry

    choices: list[tuple[str | None, str]] = [(None, "Default for this device")]
    choices += [(e.name, e.name + ("" if cached_detection_path(e).is_file() else "  (download)"))
                for e in detection_registry().values() if e.kind == "person"]
    choices += [(name, f"{name}  ·  the synthetic scene's own boxes")
                for name in scene_detector_names(current, source)]
    if not any(same_detector(current, name) for name, _text in choices):
        choices.append((current, str(current)))
    return choices


def remember(settings: AppSettings, request: DetectionRequest, on: bool) -> None:
    """Write the Detection toggle and, when on, `request`'s model and detector into `settings` (the caller
    saves). Turning it off keeps the remembered model: the next time it is turned on, it is the same."""
    settings.detect = bool(on)
    if not on:
        return
    settings.detect_weights = request.weights or ""
    if request.arch and not request.weights:
        settings.detect_arch = request.arch
    settings.detector = request.detector or ""


class DetectionController(QObject):
    """Holds the wish (on/off, which detector) and what runs; `changed` when the engine switched paths."""

    changed = Signal()

    def __init__(self, control: EngineController, notices: NoticeModel, *,
                 request: DetectionRequest | None = None, enabled: bool = False,
                 prefs: SettingsController | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self.notices = notices
        self.prefs = prefs  # where a choice made in the window is remembered (None: nowhere)
        self.request = request or DetectionRequest()
        self.wanted = enabled
        self.active: DetectionRequest | None = None  # what the engine runs now (None: the whole frame)
        self.closing = False
        self._chosen = False  # a person changed the choice in this window: remember it once the engine runs it
        self._before: DetectionRequest | None = None  # the request a model pick replaced (restored if it fails)
        control.peopleSwitched.connect(self._on_switched)
        control.failed.connect(self._on_failed)
        if self.wanted:  # on from the start (--detect): the session applies it once the engine runs
            control.requestPeople.emit(self.request)

    def set_enabled(self, on: bool) -> None:
        """Ask for the per-person path (on) or the whole frame (off): a wish the session applies now if the
        engine runs, else once it starts. On is remembered once the engine runs it; off at once (it cannot fail)."""
        self.wanted = bool(on)
        self._chosen = True
        self.control.requestPeople.emit(self.request if self.wanted else None)
        if not self.wanted:
            self._remember(self.request, False)

    def use(self, request: DetectionRequest) -> None:
        """Another detector or detection model; applied at once when detection is on."""
        self.request = request
        if self.wanted:
            self.set_enabled(True)

    def choose(self, request: DetectionRequest) -> None:
        """The Model menu's pick: run `request` (a detection model, a person detector) with Detection on. If it
        cannot load, the notice says why in one line and what ran before goes on (the choice is not saved)."""
        if self._before is None:
            self._before = self.request
        self.request = request
        self.set_enabled(True)

    def _remember(self, request: DetectionRequest, on: bool) -> None:
        if self.prefs is not None and self._chosen:
            remember(self.prefs.settings, request, on)
            self.prefs.save()

    @Slot(object)
    def _on_switched(self, request: DetectionRequest | None) -> None:
        self.active = request
        self._before = None
        self.notices.dismiss("detect")
        self._remember(request or self.request, request is not None)
        self.changed.emit()

    @Slot(str, str)
    def _on_failed(self, kind: str, message: str) -> None:
        if kind != "detect" or self.closing:
            return
        self.wanted = self.active is not None
        self.request = self.active or self._before or self.request  # a bad pick is not kept for the next toggle
        self._before = None
        self.notices.post("detect", message, "error")
        self.changed.emit()
