"""Record a labeled session: video, frame times, labels the person marks, and the model's predictions.

The facade over the session's parts, each its own module: `folder` (create the folder, disk space, process
liveness), `segments` (mp4 segments + frames.csv), `label_log` (labels.csv + the open label),
`prediction_log` (predictions.jsonl + features). What stays here is the threading and the policy:

Threads: `on_frame` runs on the capture thread and only hands the frame to a bounded queue; one writer
thread encodes it into ~1 s segments, fsyncs what is dirty about once a second and watches free disk space.
`on_prediction` (inference thread) and `mark`/`end_mark` (GUI thread) append one flushed line each. `stop()`
drains the queue, closes the open labeled segment and joins the segments into video.mp4.

Crash safety: a crash or `kill -9` loses the open segment (at most `segment_seconds`) plus what waited in
the queue; everything else is on disk and `repair_session` turns it into a normal session.
Failures (disk full, a writer exception) stop the recording by themselves: `error` holds one line for the
user, `on_error` is called once with it, and what was recorded so far stays readable.

Length (~440 lines, over the ~400 budget): one class whose four threads (capture, writer, inference, GUI)
share its state and lock; the parts that stand alone already live in the modules above, and splitting the
class would scatter that locking across files.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from slowfast_core.progress import format_bytes
from slowfast_core.sessions.clock import SessionClock
from slowfast_core.sessions.folder import DEFAULT_MIN_FREE_BYTES, create_session, low_space, write_failure
from slowfast_core.sessions.label_log import LabelLog
from slowfast_core.sessions.layout import (
    CURRENT_LABEL,
    LABELS_CSV,
    SEGMENTS_DIR,
    SESSION_JSON,
    VIDEO_FILE,
    SessionError,
    SessionInfo,
    write_info,
)
from slowfast_core.sessions.prediction_log import PredictionLog
from slowfast_core.sessions.segments import SegmentWriter
from slowfast_core.sessions.video import JoinProgress, join_segments
from slowfast_core.stream.types import FramePacket, Prediction
from slowfast_core.version import __version__

logger = logging.getLogger(__name__)

#: Upper bound on the memory the frame queue may hold, whatever the resolution.
MAX_QUEUE_BYTES = 256 * 1024**2
FSYNC_INTERVAL_S = 1.0

ErrorCallback = Callable[[str], None]
_WAKE = object()  # put in the queue by stop() so the writer thread notices at once


class SessionRecorder:
    """One recording in progress. Create with `SessionRecorder.start(...)`; finish with `stop()`.

    Thread-safe: `on_frame`, `on_prediction`, `mark`, `end_mark` and `stop` may come from different threads;
    none of the first four blocks on disk or encoding beyond one small flushed append.
    """

    def __init__(
        self,
        info: SessionInfo,
        *,
        t0: float,
        queue_frames: int,
        min_free_bytes: int,
        on_error: ErrorCallback | None,
    ) -> None:
        """Private: use `SessionRecorder.start`. `info` is already written as session.json."""
        self._info = info
        self._t0 = t0  # time.monotonic() at start, for elapsed()
        self._clock = SessionClock(info.fps)  # moved by on_frame (the capture thread) only
        self.min_free_bytes = int(min_free_bytes)  # public so that a caller (or a test) can tighten it live
        self._on_error = on_error
        self._label_set = frozenset(info.labels)
        # (image, "bgr" | "rgb", source index, session time): the source's BGR frame when the capture kept it
        self._queue: queue.Queue[tuple[np.ndarray, str, int, float]] = queue.Queue(maxsize=queue_frames)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()  # guards the label log, error, accepting
        self._accepting = True
        self._error: str | None = None
        self._dropped = 0
        self._labels = LabelLog(info.path)
        self._predictions = PredictionLog(info.path)
        self._segments = SegmentWriter(info)  # writer thread only (and stop() once it has ended)
        self._last_sync = time.monotonic()
        self._result: SessionInfo | None = None
        self._thread = threading.Thread(target=self._run, name=f"session-writer-{info.folder}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ start
    @classmethod
    def start(
        cls,
        root: Path | str,
        *,
        name: str,
        labels: Sequence[str],
        source: str,
        fps: float,
        width: int,
        height: int,
        model: str,
        weights: str | None = None,
        program_version: str = __version__,
        segment_seconds: float = 1.0,
        queue_seconds: float = 2.0,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        on_error: ErrorCallback | None = None,
    ) -> "SessionRecorder":
        """Create a new session folder under `root` and start recording into it.

        `labels` is the label set that `mark` accepts (order kept: it becomes the export's label ids).
        `on_error(message)` is called once, from whichever thread hit the failure, if the recording stops
        by itself. Raises SessionError for an empty name, duplicate labels, an unwritable root or a disk
        that is already below `min_free_bytes`; ValueError for non-positive fps/size/segment length.
        """
        if queue_seconds <= 0:
            raise ValueError("segment_seconds and queue_seconds must be positive")
        t0 = time.monotonic()
        info = create_session(root, name=name, labels=labels, source=source, fps=fps, width=width, height=height,
                              model=model, weights=weights, program_version=program_version,
                              segment_seconds=segment_seconds, min_free_bytes=min_free_bytes)
        frame_bytes = int(width) * int(height) * 3
        queue_frames = max(2, min(round(fps * queue_seconds), MAX_QUEUE_BYTES // max(frame_bytes, 1)))
        logger.info("recording session %s", info.path)
        return cls(info, t0=t0, queue_frames=queue_frames, min_free_bytes=min_free_bytes, on_error=on_error)

    # ------------------------------------------------------------------ state
    @property
    def path(self) -> Path:
        """The session folder."""
        return self._info.path

    @property
    def info(self) -> SessionInfo:
        """The session's metadata as written at start (the finished one is what `stop()` returns)."""
        return self._info

    @property
    def clock_origin(self) -> float | None:
        """The engine timestamp that is session time 0 (the first frame's), or None before the first frame."""
        return self._info.clock_origin

    @property
    def start_monotonic(self) -> float:
        """What is subtracted from engine timestamps to give session times: the current offset once the first
        frame arrived (its timestamp, unless the clock jumped back since), else time.monotonic() at start()."""
        offset = self._clock.offset
        return self._t0 if offset is None else offset

    def session_time(self, timestamp: float) -> float | None:
        """Engine timestamp `timestamp` as seconds of this session (None before the first frame)."""
        offset = self._clock.offset
        return None if offset is None else timestamp - offset

    @property
    def current_label(self) -> str | None:
        """The label of the labeled segment that is open now, or None."""
        with self._lock:
            return self._labels.current

    @property
    def error(self) -> str | None:
        """Why the recording stopped by itself (one line), or None."""
        with self._lock:
            return self._error

    @property
    def is_recording(self) -> bool:
        """True until `stop()` is called or a failure stops the recording."""
        with self._lock:
            return self._accepting

    @property
    def frames_dropped(self) -> int:
        """Frames not recorded because the writer fell more than the queue's length behind."""
        return self._dropped

    @property
    def frames_written(self) -> int:
        """Frames in closed (crash-safe) segments so far."""
        return self._segments.frames_written

    def elapsed(self) -> float:
        """Seconds since the session start."""
        return time.monotonic() - self._t0

    # ------------------------------------------------------------------ engine events
    def on_frame(self, frame: FramePacket) -> None:
        """Queue one captured frame for the writer thread; never blocks (a full queue drops and counts).

        The first frame fixes session time 0, on whatever clock the engine stamps frames with. Should the
        clock jump back (a file that loops, a reopened source), time continues one frame period later
        (`SessionClock`, which only this method moves).
        """
        if not self._accepting:
            return
        rel = self._clock.stamp(frame.timestamp)
        if self._info.clock_origin is None:
            self._info.clock_origin = self._clock.origin
        try:
            if frame.bgr is not None and frame.bgr.shape == frame.image.shape:
                self._queue.put_nowait((frame.bgr, "bgr", frame.index, rel))  # encoded as it is: no conversion
            else:
                self._queue.put_nowait((frame.image, "rgb", frame.index, rel))
        except queue.Full:
            self._dropped += 1

    def on_prediction(self, prediction: Prediction) -> None:
        """Append the prediction to predictions.jsonl (flushed). Windows ending before the start are skipped."""
        offset = self._clock.offset
        if not self._accepting or offset is None or prediction.end_time < offset:
            return  # before the first frame: about time outside the session
        try:
            self._predictions.append(prediction, offset)
        except OSError as exc:
            self._predictions.discard()
            self._fail(write_failure(exc, self._predictions.path))

    # ------------------------------------------------------------------ labels
    def mark(self, label: str, *, at: float | None = None) -> None:
        """Toggle labeled segment `label` at engine timestamp `at` (default: the newest frame's).

        `label` while it is open ends it; another label ends the open one and starts `label`. Pass the
        timestamp of the frame the person saw as `at` to cancel the display latency. ValueError when
        `label` is not in the session's label set; nothing happens once the recording has stopped.
        """
        if label not in self._label_set:
            raise ValueError(f"label {label!r} is not in this session's label set {sorted(self._label_set)}")
        t = self._rel(at)
        failure = None
        with self._lock:
            if not self._accepting:
                return
            try:
                self._labels.toggle(label, t)
            except OSError as exc:
                failure = write_failure(exc, Path(exc.filename) if exc.filename else self.path / LABELS_CSV)
        if failure:
            self._fail(failure)

    def end_mark(self, *, at: float | None = None) -> None:
        """End the open labeled segment at engine timestamp `at` (default: the newest frame's)."""
        t = self._rel(at)
        failure = None
        with self._lock:
            if not self._accepting or self._labels.open is None:
                return
            try:
                self._labels.close(t)
            except OSError as exc:
                failure = write_failure(exc, self.path / LABELS_CSV)
        if failure:
            self._fail(failure)

    def _rel(self, at: float | None) -> float:
        """Engine timestamp `at` (default: the newest frame's) as session seconds, never negative."""
        return self._clock.session_time(at)

    # ------------------------------------------------------------------ failure
    def _fail(self, message: str) -> None:
        """Stop accepting input and report `message` once (log, `error`, `on_error`)."""
        with self._lock:
            if self._error is not None:
                return
            self._error = message
            self._accepting = False
        self._stop_event.set()
        logger.error("%s", message)
        if self._on_error is not None:
            try:
                self._on_error(message)
            except Exception:  # a broken callback must not hide the original failure
                logger.exception("the recorder's error callback failed")

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        """Writer thread: encode queued frames into segments until stopped; report any exception. Whatever
        happens, it closes the segment writer (frames.csv) before it ends, also after `stop` gave up on it."""
        try:
            while True:
                if self._stop_event.is_set() and (self._queue.empty() or self._error is not None):
                    break
                try:
                    packet = self._queue.get(timeout=0.2)
                except queue.Empty:
                    packet = None
                if packet is not None and packet is not _WAKE and self._error is None:
                    image, order, index, rel = packet
                    if self._segments.write(image, index, rel, order=order):
                        self._check_space()  # a segment was closed
                if time.monotonic() - self._last_sync >= FSYNC_INTERVAL_S:
                    self._sync()
                    self._check_space()
        except OSError as exc:
            self._fail(write_failure(exc, Path(exc.filename) if exc.filename else self.path / SEGMENTS_DIR))
        except Exception as exc:  # noqa: BLE001 - any writer failure must reach the user, not kill silently
            logger.exception("session writer failed")
            self._fail(f"recording stopped: the video writer failed ({type(exc).__name__}: "
                       f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}); "
                       "the part recorded so far is kept")
        finally:
            try:
                self._segments.close()
            except Exception as exc:  # noqa: BLE001
                logger.warning("could not close the last video segment of %s: %s", self.path, exc)
                if isinstance(exc, OSError):
                    self._fail(write_failure(exc, self.path / SEGMENTS_DIR))
            self._sync(force=True)

    def _sync(self, *, force: bool = False) -> None:
        """fsync the labels and predictions files when they changed since the last time (or `force`)."""
        self._last_sync = time.monotonic()
        try:
            self._predictions.sync(force=force)
            with self._lock:
                self._labels.sync(force=force)
        except OSError as exc:
            self._fail(write_failure(exc, self.path))

    def _check_space(self) -> None:
        """Stop the recording, keeping what is on disk, when free space drops under `min_free_bytes`."""
        if self._error is None:
            why = low_space(self.path, self.min_free_bytes)
            if why:
                self._fail(why)

    # ------------------------------------------------------------------ stop
    def stop(self, *, progress: JoinProgress | None = None, timeout: float = 30.0) -> SessionInfo:
        """Finish the session: drain the queue, close the open label, join the segments into video.mp4.

        Returns the final SessionInfo (state "finished"). Joining re-encodes every frame (a few ms each at
        640x480), so a long session takes a while: call it off the GUI thread and pass `progress(done,
        total)` to show it. When the join cannot be done (no room on the disk) the segments stay and the
        state stays "recording" with `error` set: `repair_session` finishes it later. Calling it again
        returns the same result.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("SessionRecorder.stop() was called from its own writer thread (inside on_error?): "
                               "hand the error to another thread (e.g. a queued Qt signal) and stop from there")
        with self._lock:
            if self._result is not None:
                return self._result
            self._accepting = False
            stop_rel = self._rel(None)
        self._stop_event.set()
        try:
            self._queue.put_nowait(_WAKE)  # type: ignore[arg-type]
        except queue.Full:
            pass  # the writer is busy, not waiting
        self._thread.join(timeout)
        if self._thread.is_alive():  # it closes the segment writer (frames.csv) itself when it ends
            self._fail(f"the video writer of {self.path} did not finish within {timeout:.0f} s: the session is "
                       "left for `slowfast sessions repair`")
            self._close_predictions()
            return self._finish_unjoined()
        segments = self._segments
        with self._lock:
            if self._labels.open is not None:
                end = stop_rel if segments.last_time is None else segments.last_time  # the video ends there
                try:
                    self._labels.close(end)
                except OSError as exc:
                    self._error = self._error or write_failure(exc, self.path / LABELS_CSV)
                    self._labels.open = None
        self._close_predictions()
        self._sync(force=True)
        info = self._info
        info.frames_dropped = self._dropped
        info.error = self._error
        info.frames = segments.frames_written
        info.duration = round(segments.last_time or 0.0, 6)
        if segments.frames_written:
            sizes = sum(p.stat().st_size for p, _ in segments.segments if p.is_file())
            free = shutil.disk_usage(self.path).free
            if free < sizes + 16 * 1000**2:
                info.error = info.error or (f"no room to join the video of {self.path} ({format_bytes(free)} "
                                            "free): free some space and run `slowfast sessions repair`")
                return self._finish_unjoined()
            try:
                written = join_segments(segments.segments, self.path / VIDEO_FILE, fps=info.fps, width=info.width,
                                        height=info.height, progress=progress)
            except (OSError, SessionError) as exc:
                info.error = info.error or f"could not join the video of {self.path} ({exc}): run " \
                                           "`slowfast sessions repair` after freeing some space"
                return self._finish_unjoined()
            if written != segments.frames_written:
                (self.path / VIDEO_FILE).unlink(missing_ok=True)
                info.error = info.error or (f"the video segments of {self.path} hold {written} frames, not "
                                            f"{segments.frames_written}: run `slowfast sessions repair`")
                return self._finish_unjoined()
        info.state = "finished"
        info.end_time = datetime.now().astimezone().isoformat(timespec="milliseconds")
        try:
            write_info(info)
        except OSError as exc:
            info.error = info.error or write_failure(exc, self.path / SESSION_JSON)
            self._result = info
            return info
        shutil.rmtree(self.path / SEGMENTS_DIR, ignore_errors=True)
        (self.path / CURRENT_LABEL).unlink(missing_ok=True)
        self._result = info
        logger.info("session %s finished: %d frames, %.1f s", self.path, info.frames, info.duration)
        return info

    def _close_predictions(self) -> None:
        """Close predictions.jsonl and the features; a failed last flush is the recording's error."""
        try:
            self._predictions.close()
        except OSError as exc:
            with self._lock:
                self._error = self._error or write_failure(exc, self._predictions.path)
            logger.error("%s", self._error)

    def _finish_unjoined(self) -> SessionInfo:
        """Leave the session for repair (segments kept, state "recording"), recording why. When session.json
        cannot be written either, that is said too (a reader then still sees this process's pid)."""
        info = self._info
        info.error = info.error or self._error
        info.pid = info.pid_started = None  # nobody writes here any more: find_unfinished may offer a repair
        try:
            write_info(info)
        except OSError as exc:
            failure = write_failure(exc, self.path / SESSION_JSON)
            info.error = f"{info.error}; {failure}" if info.error else failure
            logger.error("%s", failure)
        self._result = info
        return info
