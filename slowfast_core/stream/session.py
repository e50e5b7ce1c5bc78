"""The live session: what the viewer wants to run (source, model, per-person path, settings), made true on ONE
control thread.

A window (or any front end) never decides whether to start or to switch, and never touches the engine's
threads: it states wishes, from any thread, and they return at once:

    session = LiveSession(engine, listener=view)   # view: on_started / on_source_switched / on_model_switched /
    session.open_ahead("camera:0")                 #       on_people_switched / on_failed (any subset)
    session.want_model(ready)                      # nothing runs yet: this starts the engine on camera:0
    session.want_source("file:/v/clip.mp4")        # running: a switch; sent during the start: applied after it
    session.want_people(request)                   # the per-person path (built here: a detection model loads)
    session.update_settings(topk=3)                # a new immutable snapshot, handed to the engine whole
    session.close(timeout=1.0)                     # no wish runs any more (the engine is stopped by its owner)

The control thread ("live-session") compares what is wanted with what it last applied and does the one thing
that is missing: start when nothing runs (once a source and a model are both wanted), else switch the source,
the model (or only the head of a taught one), the per-person path. Wishes that arrive while a start or a
switch is in flight are not lost and do not start twice: the next pass sees the newest wish of each kind. A
wish that failed is reported once (`on_failed(kind, one line)`: kind "start" | "source" | "model" | "detect";
one error ladder) and the wish falls back to what runs, so a later start does not repeat it.

Listeners are called on the control thread (`on_model_switched` on the worker's thread, once the new model or
head runs); a Qt front end turns them into queued signals (app.engine_control). Settings do not wait behind a
camera opening: `update_settings` validates and hands the snapshot over at once (the engine swaps it whole,
under its lock), so the last snapshot wins from whichever thread it came.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slowfast_core.errors import SlowFastError
from slowfast_core.stream.engine import Engine
from slowfast_core.stream.settings import EngineSettings
from slowfast_core.video.source_text import parse_source
from slowfast_core.video.sources import FrameSource
from slowfast_core.weights.api import ReadyModel

logger = logging.getLogger(__name__)

#: the kinds of `on_failed`
FAILURE_KINDS = ("start", "source", "model", "detect")


@dataclass(frozen=True)
class _ModelWish:
    ready: ReadyModel
    head_only: bool  # a taught model: only its classifier goes on the running backbone (Engine.swap_head)


class LiveSession:
    """The wanted live state and the control thread that makes it true; see the module doc."""

    def __init__(self, engine: Engine, *, listener: Any = None,
                 make_source: Callable[[str], FrameSource] | None = None,
                 build_people: Callable[[Any], Any] | None = None, name: str = "live-session") -> None:
        """make_source: the source for a spec (default: `parse_source(spec, realtime=True, loop=True)`: files
        loop, like a demo). build_people: turns a per-person wish into the engine's step (`Engine.set_people`;
        it loads a detection model, so it runs on the control thread); None refuses such wishes."""
        self.engine = engine
        self.listener = listener
        self._make_source = make_source or (lambda spec: parse_source(spec, realtime=True, loop=True))
        self._build_people = build_people
        self._cond = threading.Condition()
        self._closed = False
        # wanted (under _cond): each kind with a number that grows with every wish of that kind
        self._wanted_spec: str | None = None
        self._wanted_model: _ModelWish | None = None
        self._wanted_people: Any = None
        self._seq = {"source": 0, "model": 0, "people": 0}
        self._ahead: str | None = None  # a source to open now (before a model is wanted)
        # applied (control thread only, read by others as plain values)
        self._done = {"source": 0, "model": 0, "people": 0}
        self._applied_model: ReadyModel | None = None
        self._applied_people: Any = None
        self._opened: tuple[str, FrameSource | Exception] | None = None  # opened ahead, not yet started
        self.source: FrameSource | None = None  # the source running now
        self.spec: str | None = None  # its spec
        self.starts = 0  # how many times this session started the engine
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # --- wishes (any thread; they return at once) -------------------------------------------------------------
    def open_ahead(self, spec: str) -> None:
        """Want source `spec` and open it now, while the model still loads (a camera takes up to a second): the
        start then runs on it at once. A failure is reported by that start."""
        with self._cond:
            self._want_source(spec)
            self._ahead = spec
            self._cond.notify_all()

    def want_source(self, spec: str) -> None:
        """Show source `spec`: started on once a model is wanted too, switched to while running (the same spec
        again opens it again: a file plays from the start)."""
        with self._cond:
            self._want_source(spec)
            self._cond.notify_all()

    def want_model(self, ready: ReadyModel, *, head_only: bool = False) -> None:
        """Run `ready`: started with once a source is wanted too, switched to while running. head_only: a taught
        model whose classifier goes on the running backbone (no reload; another backbone loads in full)."""
        with self._cond:
            self._want_model(_ModelWish(ready, head_only))
            self._cond.notify_all()

    def want(self, spec: str, ready: ReadyModel) -> None:
        """Run `ready` on source `spec` (both wanted at once: one pass applies both); a model already wanted is
        not switched to again."""
        with self._cond:
            self._want_source(spec)
            if self._wanted_model is None or self._wanted_model.ready is not ready:
                self._want_model(_ModelWish(ready, False))
            self._cond.notify_all()

    def want_people(self, request: Any) -> None:
        """Who is doing what (`request`, built by `build_people` here) or the whole frame (None); kept across
        starts (a fresh engine starts on the whole frame and gets it again)."""
        with self._cond:
            self._wanted_people = request
            self._seq["people"] += 1
            self._cond.notify_all()

    def _want_source(self, spec: str) -> None:
        self._wanted_spec = spec
        self._seq["source"] += 1

    def _want_model(self, wish: _ModelWish) -> None:
        self._wanted_model = wish
        self._seq["model"] += 1

    def update_settings(self, **changes: Any) -> EngineSettings:
        """A new settings snapshot (the running one with `changes`), validated here (a ConfigError on the
        caller's thread: nothing changes) and handed to the engine whole; returns it. The engine swaps and
        hands over one snapshot at a time (under its lock), so concurrent calls end with the last one running."""
        return self.engine.update_settings(**changes)

    @property
    def settings(self) -> EngineSettings:
        """The settings snapshot in force."""
        return self.engine.settings

    @property
    def wanted_source(self) -> str | None:
        """The source asked for last (it may not run yet)."""
        return self._wanted_spec

    @property
    def wanted_model(self) -> ReadyModel | None:
        """The model asked for last (it may not run yet)."""
        wish = self._wanted_model
        return wish.ready if wish is not None else None

    # --- the control thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                action = self._next()
                while action is None and not self._closed:
                    self._cond.wait()
                    action = self._next()
                if self._closed:
                    return
            action()

    def _next(self) -> Callable[[], None] | None:
        """The one thing missing between wanted and applied (under `_cond`), its wish marked as taken; None
        when there is nothing to do."""
        if self._closed:
            return None
        seq, done = self._seq, self._done
        if not self.engine.running:
            if self._ahead is not None:
                spec, self._ahead = self._ahead, None
                return lambda: self._open(spec)
            source, model = self._wanted_spec, self._wanted_model
            if source is None or model is None or (done["source"] == seq["source"] and
                                                   done["model"] == seq["model"]):
                return None  # waiting for the other half of a start, or a failed start waits for a new wish
            done["source"], done["model"] = seq["source"], seq["model"]
            return lambda: self._start(source, model.ready)
        self._ahead = None  # running: an open-ahead wish is a switch
        if done["source"] != seq["source"]:
            done["source"] = taken_source = seq["source"]
            spec = self._wanted_spec
            if spec is not None:
                return lambda: self._switch_source(spec, taken_source)
        if done["model"] != seq["model"]:
            done["model"] = taken_model = seq["model"]
            wish = self._wanted_model
            if wish is not None:
                return lambda: self._switch_model(wish, taken_model)
        if done["people"] != seq["people"]:
            done["people"] = taken_people = seq["people"]
            request = self._wanted_people
            return lambda: self._switch_people(request, taken_people)
        return None

    def _attempt(self, kind: str, what: str, action: Callable[[], object]) -> bool:
        """Run `action`; a failure becomes `on_failed(kind, one line)`: a SlowFastError's own message, anything
        else `what: Type: message` (its traceback in the log). True when it succeeded. The one error ladder of
        every wish, so a front end never sees a traceback nor a silent failure."""
        try:
            action()
            return True
        except SlowFastError as exc:
            self._tell("on_failed", kind, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported, never a crash of the control thread
            logger.exception("%s", what)
            self._tell("on_failed", kind, f"{what}: {type(exc).__name__}: {exc}")
        return False

    def _tell(self, event: str, *args: Any) -> None:
        method = getattr(self.listener, event, None)
        if method is not None:
            method(*args)

    def _fall_back(self, kind: str, taken: int, value: Any) -> None:
        """A failed wish of `kind` falls back to `value` (what runs), unless a newer wish came meanwhile."""
        with self._cond:
            if self._seq[kind] == taken:
                if kind == "source":
                    self._wanted_spec = value
                elif kind == "model":
                    self._wanted_model = value
                else:
                    self._wanted_people = value

    def _open(self, spec: str) -> None:
        self._discard_opened()
        try:
            source = self._make_source(spec)
            source.open()
            self._opened = (spec, source)
        except Exception as exc:  # noqa: BLE001 - raised again by the start, where failures are reported
            self._opened = (spec, exc)

    def _take_opened(self, spec: str) -> FrameSource:
        """The source opened ahead for `spec` (or its failure, raised), else a new one; closes a stale one."""
        opened, self._opened = self._opened, None
        if opened is not None and opened[0] == spec:
            if isinstance(opened[1], Exception):
                raise opened[1]
            return opened[1]
        if opened is not None and not isinstance(opened[1], Exception):
            opened[1].close()
        return self._make_source(spec)

    def _discard_opened(self) -> None:
        opened, self._opened = self._opened, None
        if opened is not None and not isinstance(opened[1], Exception) and opened[1] is not self.source:
            opened[1].close()

    def _start(self, spec: str, ready: ReadyModel) -> None:
        def start() -> None:
            source = self._take_opened(spec)
            try:
                self.engine.start(source, ready.model, preprocessing=ready.preprocessing)
            except BaseException:
                if source is not self.source and source.info is not None:
                    source.close()  # the engine did not take it
                raise
            self.source, self.spec, self._applied_model = source, spec, ready
            self.starts += 1

        if not self._attempt("start", "could not start", start):
            return
        with self._cond:  # a fresh engine runs the whole frame: a per-person wish is applied (again) after it
            self._done["people"] = self._seq["people"] - (self._wanted_people is not None)
            self._applied_people = None
        self._tell("on_started", self.source.name if self.source is not None else spec, spec)

    def _switch_source(self, spec: str, taken: int) -> None:
        def switch() -> None:
            source = self._make_source(spec)
            self.engine.switch_source(source)
            self.source, self.spec = source, spec

        if self._attempt("source", f"could not open {spec}", switch) and self.source is not None:
            self._tell("on_source_switched", self.source.name, spec)
        else:
            self._fall_back("source", taken, self.spec)

    def _switch_model(self, wish: _ModelWish, taken: int) -> None:
        ready = wish.ready
        if ready is self._applied_model:
            return

        def applied() -> None:
            self._tell("on_model_switched", ready)

        if wish.head_only:
            ok = self._attempt("model", "could not use the taught model", lambda: self.engine.swap_head(
                ready.model, applied=applied, identity=ready.identity))
        else:
            ok = self._attempt("model", "could not switch the model", lambda: self.engine.switch_model(
                ready.model, preprocessing=ready.preprocessing, applied=applied))
        if ok:
            self._applied_model = ready
        else:
            running = self._applied_model
            self._fall_back("model", taken, _ModelWish(running, False) if running is not None else None)

    def _switch_people(self, request: Any, taken: int) -> None:
        def switch() -> None:
            if request is not None and self._build_people is None:
                raise SlowFastError("this session cannot build the per-person path (no detection builder)")
            step = None if request is None else self._build_people(request)  # type: ignore[misc]
            self.engine.set_people(step)

        if self._attempt("detect", "could not switch detection", switch):
            self._applied_people = request
            self._tell("on_people_switched", request)
        else:
            self._fall_back("people", taken, self._applied_people)

    # --- ending -----------------------------------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> bool:
        """No wish runs from now on (those waiting are dropped; one in flight ends); waits up to `timeout` s for
        the control thread. True when it ended. A source opened ahead and never started is closed. The engine
        is not stopped here: its owner stops it after this (whoever sends requests stops first)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        ended = self.join(timeout)
        if ended:
            self._discard_opened()
        return ended

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the control thread to end (after `close`); True when it has."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the control thread runs (until `close` and the wish in flight ended)."""
        return self._thread.is_alive()


__all__ = ["FAILURE_KINDS", "LiveSession"]
