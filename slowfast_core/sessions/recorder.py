"""Record a labeled session: video, frame times, labels the person marks, and the model's predictions.

Threads: `on_frame` runs on the capture thread and only hands the frame to a bounded queue; one writer
thread encodes it into ~1 s mp4v segments, appends frames.csv at each segment's close, fsyncs what is
dirty about once a second and watches free disk space. `on_prediction` (inference thread) and
`mark`/`end_mark` (GUI thread) append one flushed line each. `stop()` drains the queue, closes the open
labeled segment and joins the segments into video.mp4.

Crash safety: a crash or `kill -9` loses the open segment (at most `segment_seconds`) plus what waited in
the queue; everything else is on disk and `repair_session` turns it into a normal session.
Failures (disk full, a writer exception) stop the recording by themselves: `error` holds one line for the
user, `on_error` is called once with it, and what was recorded so far stays readable.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from slowfast_core import __version__
from slowfast_core.progress import format_bytes
from slowfast_core.sessions.layout import (
    CURRENT_LABEL,
    FRAMES_CSV,
    FRAMES_HEADER,
    LABELS_CSV,
    LABELS_HEADER,
    PREDICTIONS_JSONL,
    SEGMENTS_DIR,
    VIDEO_FILE,
    LabeledSegment,
    SessionError,
    SessionInfo,
    csv_line,
    fsync_dir,
    fsync_path,
    slugify,
    write_info,
)
from slowfast_core.sessions.features import FeatureWriter
from slowfast_core.sessions.video import JoinProgress, indexed_frames, join_segments, open_writer
from slowfast_core.stream.types import FramePacket, Prediction

logger = logging.getLogger(__name__)

#: Stop recording when less than this is free on the session's disk (the join at stop needs room too).
DEFAULT_MIN_FREE_BYTES = 200 * 1000**2
#: Upper bound on the memory the frame queue may hold, whatever the resolution.
MAX_QUEUE_BYTES = 256 * 1024**2
FSYNC_INTERVAL_S = 1.0

ErrorCallback = Callable[[str], None]
_WAKE = object()  # put in the queue by stop() so the writer thread notices at once


def segment_name(number: int) -> str:
    """File name of segment `number` inside segments/."""
    return f"{number:06d}.mp4"


def prediction_record(pred: Prediction, offset: float) -> dict[str, object]:
    """The predictions.jsonl object for `pred`, with times in session seconds (engine timestamp - offset)."""
    return {
        "id": int(pred.id),
        "start": round(pred.start_time - offset, 6),
        "end": round(pred.end_time - offset, 6),
        "first_index": int(pred.first_index),
        "last_index": int(pred.last_index),
        "label": pred.label,
        "confidence": round(float(pred.confidence), 6),
        "topk": [[name, round(float(p), 6)] for name, p in pred.topk],
        "timings": {k: round(float(v), 3) for k, v in vars(pred.timings).items()},
        "backend": pred.backend,
    }


def write_failure(exc: OSError, file: Path) -> str:
    """The one-line message for a failed write of `file`: disk full gets its own wording."""
    kept = "recording stopped, the part recorded so far is kept"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing {file}: {kept}; free some space and record again"
    return f"cannot write {file} ({exc.strerror or exc}): {kept}"


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
        self._offset: float | None = None  # engine timestamp - offset = session time; set by the first frame
        self._last_rel: float | None = None  # session time of the newest accepted frame
        self.min_free_bytes = int(min_free_bytes)  # public so that a caller (or a test) can tighten it live
        self._on_error = on_error
        self._label_set = frozenset(info.labels)
        self._seg_frames = max(1, round(info.fps * info.segment_seconds))
        self._queue: queue.Queue[tuple[FramePacket, float]] = queue.Queue(maxsize=queue_frames)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()  # guards labels, error, accepting
        self._pred_lock = threading.Lock()  # guards the predictions file
        self._accepting = True
        self._error: str | None = None
        self._dropped = 0
        self._open_label: tuple[str, float] | None = None
        self._pred_file = None
        self._features = FeatureWriter(info.path)  # each window's pooled feature, for Teach (guarded by _pred_lock)
        self._dirty = {"labels": False, "predictions": False}
        # writer-thread state
        self._writer: cv2.VideoWriter | None = None
        self._seg_number = 0
        self._seg_rows: list[tuple[int, int, int, float]] = []
        self._segments: list[tuple[Path, int]] = []  # closed segments and their frame counts
        self._frames_written = 0  # frames in closed segments
        self._last_time: float | None = None  # time of the last frame in a closed segment
        self._frames_file = open(info.path / FRAMES_CSV, "a", encoding="utf-8", newline="")
        self._last_sync = time.monotonic()
        self._warned_resize = False
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
        if not name or not name.strip():
            raise SessionError("the session name is empty: give the session a name")
        labels = [str(label).strip() for label in labels]
        if any(not label for label in labels):
            raise SessionError("a label in the label set is empty: remove it or give it a name")
        dupes = sorted({label for label in labels if labels.count(label) > 1})
        if dupes:
            raise SessionError(f"the label set names {', '.join(dupes)} twice: each label must be unique")
        if not (fps > 0 and width > 0 and height > 0):
            raise ValueError(f"fps, width and height must be positive, got {fps}, {width}, {height}")
        if segment_seconds <= 0 or queue_seconds <= 0:
            raise ValueError("segment_seconds and queue_seconds must be positive")
        root = Path(root).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SessionError(f"cannot create the sessions folder {root} ({exc.strerror}): choose another "
                               f"folder or set SLOWFAST_SESSIONS") from None
        free = shutil.disk_usage(root).free
        if free < min_free_bytes:
            raise SessionError(f"only {format_bytes(free)} free on the disk of {root} (need at least "
                               f"{format_bytes(min_free_bytes)}): free some space before recording")
        now = datetime.now().astimezone()
        t0 = time.monotonic()
        path = _new_folder(root, f"{now:%Y%m%d-%H%M%S}_{slugify(name)}")
        pid, pid_started = _process_identity()
        info = SessionInfo(
            name=name.strip(), labels=labels, source=source, fps=float(fps), width=int(width),
            height=int(height), model=model, weights=weights, program_version=program_version,
            start_time=now.isoformat(timespec="milliseconds"), state="recording",
            segment_seconds=float(segment_seconds), pid=pid, pid_started=pid_started, path=path,
        )
        try:
            (path / SEGMENTS_DIR).mkdir()
            (path / FRAMES_CSV).write_text(csv_line(list(FRAMES_HEADER)), encoding="utf-8")
            (path / LABELS_CSV).write_text(csv_line(list(LABELS_HEADER)), encoding="utf-8")
            (path / PREDICTIONS_JSONL).touch()
            write_info(info)
        except OSError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise SessionError(f"cannot write the session folder {path} ({exc.strerror}): check free space "
                               "and permissions") from None
        frame_bytes = int(width) * int(height) * 3
        queue_frames = max(2, min(round(fps * queue_seconds), MAX_QUEUE_BYTES // max(frame_bytes, 1)))
        logger.info("recording session %s", path)
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
        offset = self._offset
        return self._t0 if offset is None else offset

    def session_time(self, timestamp: float) -> float | None:
        """Engine timestamp `timestamp` as seconds of this session (None before the first frame)."""
        offset = self._offset
        return None if offset is None else timestamp - offset

    @property
    def current_label(self) -> str | None:
        """The label of the labeled segment that is open now, or None."""
        with self._lock:
            return self._open_label[0] if self._open_label else None

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
        return self._frames_written

    def elapsed(self) -> float:
        """Seconds since the session start."""
        return time.monotonic() - self._t0

    # ------------------------------------------------------------------ engine events
    def on_frame(self, frame: FramePacket) -> None:
        """Queue one captured frame for the writer thread; never blocks (a full queue drops and counts).

        The first frame fixes session time 0, on whatever clock the engine stamps frames with. Should the
        clock jump back (a file that loops, a reopened source), time continues one frame period later.
        """
        if not self._accepting:
            return
        if self._offset is None:
            self._info.clock_origin = frame.timestamp
            self._offset = frame.timestamp
        rel = frame.timestamp - self._offset
        if self._last_rel is not None and rel < self._last_rel:
            rel = self._last_rel + 1.0 / self._info.fps
            self._offset = frame.timestamp - rel
        self._last_rel = rel
        try:
            self._queue.put_nowait((frame, rel))
        except queue.Full:
            self._dropped += 1

    def on_prediction(self, prediction: Prediction) -> None:
        """Append the prediction to predictions.jsonl (flushed). Windows ending before the start are skipped."""
        offset = self._offset
        if not self._accepting or offset is None or prediction.end_time < offset:
            return  # before the first frame: about time outside the session
        try:
            line = json.dumps(prediction_record(prediction, offset), ensure_ascii=False, allow_nan=False) + "\n"
        except ValueError:  # NaN or infinity: not valid JSON, and no prediction (the worker never sends one)
            logger.error("prediction %s holds a value that is not a number: not recorded", prediction.id)
            return
        with self._pred_lock:
            try:
                if self._pred_file is None:
                    self._pred_file = open(self.path / PREDICTIONS_JSONL, "a", encoding="utf-8")
                self._pred_file.write(line)
                self._pred_file.flush()
                self._dirty["predictions"] = True
                if prediction.feature is not None and prediction.feature_identity is not None:
                    self._features.append(prediction.start_time - offset, prediction.end_time - offset,
                                          prediction.feature, prediction.feature_identity)
            except OSError as exc:
                self._discard_predictions_file()
                failure = write_failure(exc, self.path / PREDICTIONS_JSONL)
            else:
                return
        self._fail(failure)

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
            current = self._open_label
            try:
                if current is not None:
                    self._close_label_locked(t)
                if current is None or current[0] != label:
                    self._open_label = (label, t)
                    _replace_text(self.path / CURRENT_LABEL, json.dumps({"label": label, "start": round(t, 6)}))
            except OSError as exc:
                failure = write_failure(exc, Path(exc.filename) if exc.filename else self.path / LABELS_CSV)
        if failure:
            self._fail(failure)

    def end_mark(self, *, at: float | None = None) -> None:
        """End the open labeled segment at engine timestamp `at` (default: the newest frame's)."""
        t = self._rel(at)
        failure = None
        with self._lock:
            if not self._accepting or self._open_label is None:
                return
            try:
                self._close_label_locked(t)
            except OSError as exc:
                failure = write_failure(exc, self.path / LABELS_CSV)
        if failure:
            self._fail(failure)

    def _rel(self, at: float | None) -> float:
        """Engine timestamp `at` (default: the newest frame's) as session seconds, never negative."""
        offset, last = self._offset, self._last_rel
        if at is None or offset is None:
            return max(0.0, last or 0.0)
        return max(0.0, at - offset)

    def _close_label_locked(self, end: float) -> LabeledSegment | None:
        """Append the open segment (ending at `end`) to labels.csv and forget it. Caller holds the lock."""
        assert self._open_label is not None
        label, start = self._open_label
        self._open_label = None
        (self.path / CURRENT_LABEL).unlink(missing_ok=True)
        if end <= start:
            return None  # zero-length (pressed twice at once): nothing to keep
        seg = LabeledSegment(label, start, end)
        with open(self.path / LABELS_CSV, "a", encoding="utf-8", newline="") as f:
            f.write(csv_line((seg.label, seg.start, seg.end)))
            f.flush()
        self._dirty["labels"] = True
        return seg

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

    def _discard_predictions_file(self) -> None:
        """Close the predictions file after a failed write, dropping its unwritable buffer."""
        f, self._pred_file = self._pred_file, None
        self._features.close()
        if f is not None:
            try:
                f.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        """Writer thread: encode queued frames into segments until stopped; report any exception."""
        try:
            while True:
                if self._stop_event.is_set() and (self._queue.empty() or self._error is not None):
                    break
                try:
                    packet = self._queue.get(timeout=0.2)
                except queue.Empty:
                    packet = None
                if packet is not None and packet is not _WAKE and self._error is None:
                    self._write_frame(*packet)
                self._periodic()
        except OSError as exc:
            self._fail(write_failure(exc, Path(exc.filename) if exc.filename else self.path / SEGMENTS_DIR))
        except Exception as exc:  # noqa: BLE001 - any writer failure must reach the user, not kill silently
            logger.exception("session writer failed")
            self._fail(f"recording stopped: the video writer failed ({type(exc).__name__}: "
                       f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}); "
                       "the part recorded so far is kept")
        finally:
            try:
                self._close_segment()
            except Exception as exc:  # noqa: BLE001
                logger.warning("could not close the last video segment of %s: %s", self.path, exc)
                if isinstance(exc, OSError):
                    self._fail(write_failure(exc, self.path / SEGMENTS_DIR))
            self._sync(force=True)

    def _write_frame(self, packet: FramePacket, rel: float) -> None:
        """Encode one frame (at session time `rel`) into the open segment; close the segment when full."""
        info = self._info
        image = packet.image  # (H, W, 3) RGB uint8
        if image.shape[0] != info.height or image.shape[1] != info.width:
            if not self._warned_resize:
                logger.warning("frames are %dx%d but the session records %dx%d: resizing",
                               image.shape[1], image.shape[0], info.width, info.height)
                self._warned_resize = True
            image = cv2.resize(image, (info.width, info.height), interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)  # (H, W, 3) BGR
        if self._writer is None:
            seg = self.path / SEGMENTS_DIR / segment_name(self._seg_number)
            self._writer = open_writer(seg, fps=info.fps, width=info.width, height=info.height)
        self._writer.write(bgr)
        frame_no = self._frames_written + len(self._seg_rows)
        self._seg_rows.append((frame_no, self._seg_number, int(packet.index), rel))
        if len(self._seg_rows) >= self._seg_frames:
            self._close_segment()
            self._check_space()

    def _close_segment(self) -> None:
        """Release the open segment, make sure it landed on disk, then append the rows of the frames it really
        holds to frames.csv: the index never claims a frame the video does not have.

        OpenCV's writer does not report failed writes: a disk that fills mid-segment leaves a file without
        its index (or with fewer frames), found here by reading the index back; the rows it lacks are dropped
        and the recording stops as on any full disk."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.release()
        seg = self.path / SEGMENTS_DIR / segment_name(self._seg_number)
        rows, self._seg_rows = self._seg_rows, []
        self._seg_number += 1
        if not seg.is_file() or seg.stat().st_size == 0:
            raise OSError(errno.ENOSPC, "the video segment came out empty (disk full?)", str(seg))
        fsync_path(seg)
        fsync_dir(seg.parent)
        held = min(len(rows), indexed_frames(seg) or 0)
        if held:
            self._frames_file.write("".join(csv_line(row) for row in rows[:held]))
            self._frames_file.flush()
            os.fsync(self._frames_file.fileno())
            self._segments.append((seg, held))
            self._frames_written += held
            self._last_time = rows[held - 1][3]
        if held < len(rows):
            raise OSError(errno.ENOSPC, f"the video segment holds {held} of its {len(rows)} frames (disk full?)",
                          str(seg))

    def _periodic(self) -> None:
        """About once a second: fsync what is dirty and check the free space."""
        if time.monotonic() - self._last_sync >= FSYNC_INTERVAL_S:
            self._sync()
            self._check_space()

    def _sync(self, *, force: bool = False) -> None:
        """fsync the labels and predictions files when they changed since the last time (or `force`)."""
        self._last_sync = time.monotonic()
        try:
            with self._pred_lock:
                if self._pred_file is not None and (force or self._dirty["predictions"]):
                    self._dirty["predictions"] = False
                    os.fsync(self._pred_file.fileno())
                    features = self._features.fileno()
                    if features is not None:
                        os.fsync(features)
            if force or self._dirty["labels"]:
                self._dirty["labels"] = False
                fsync_path(self.path / LABELS_CSV)
        except OSError as exc:
            self._fail(write_failure(exc, self.path))

    def _check_space(self) -> None:
        """Stop the recording, keeping what is on disk, when free space drops under `min_free_bytes`."""
        if self._error is not None:
            return
        free = shutil.disk_usage(self.path).free
        if free < self.min_free_bytes:
            self._fail(f"disk almost full: {format_bytes(free)} free for {self.path} (the recorder stops under "
                       f"{format_bytes(self.min_free_bytes)}); recording stopped, the part recorded so far is "
                       "kept - free some space and record again")

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
        if self._thread.is_alive():
            self._fail(f"the video writer of {self.path} did not finish within {timeout:.0f} s: the session is "
                       "left for `slowfast sessions repair`")
            return self._finish_unjoined()
        self._frames_file.close()
        with self._lock:
            if self._open_label is not None:
                end = stop_rel if self._last_time is None else self._last_time  # the video ends there
                try:
                    self._close_label_locked(end)
                except OSError as exc:
                    self._error = self._error or write_failure(exc, self.path / LABELS_CSV)
                    self._open_label = None
        with self._pred_lock:
            if self._pred_file is not None:
                try:
                    self._pred_file.flush()
                except OSError:
                    pass
                self._discard_predictions_file()
        self._sync(force=True)
        info = self._info
        info.frames_dropped = self._dropped
        info.error = self._error
        info.frames = self._frames_written
        info.duration = round(self._last_time or 0.0, 6)
        if self._frames_written:
            sizes = sum(p.stat().st_size for p, _ in self._segments if p.is_file())
            free = shutil.disk_usage(self.path).free
            if free < sizes + 16 * 1000**2:
                info.error = info.error or (f"no room to join the video of {self.path} ({format_bytes(free)} "
                                            "free): free some space and run `slowfast sessions repair`")
                return self._finish_unjoined()
            try:
                written = join_segments(self._segments, self.path / VIDEO_FILE, fps=info.fps, width=info.width,
                                        height=info.height, progress=progress)
            except (OSError, SessionError) as exc:
                info.error = info.error or f"could not join the video of {self.path} ({exc}): run " \
                                           "`slowfast sessions repair` after freeing some space"
                return self._finish_unjoined()
            if written != self._frames_written:
                (self.path / VIDEO_FILE).unlink(missing_ok=True)
                info.error = info.error or (f"the video segments of {self.path} hold {written} frames, not "
                                            f"{self._frames_written}: run `slowfast sessions repair`")
                return self._finish_unjoined()
        info.state = "finished"
        info.end_time = datetime.now().astimezone().isoformat(timespec="milliseconds")
        try:
            write_info(info)
        except OSError as exc:
            info.error = info.error or write_failure(exc, self.path / "session.json")
            self._result = info
            return info
        shutil.rmtree(self.path / SEGMENTS_DIR, ignore_errors=True)
        (self.path / CURRENT_LABEL).unlink(missing_ok=True)
        self._result = info
        logger.info("session %s finished: %d frames, %.1f s", self.path, info.frames, info.duration)
        return info

    def _finish_unjoined(self) -> SessionInfo:
        """Leave the session for repair (segments kept, state "recording"), recording why if possible."""
        info = self._info
        info.error = info.error or self._error
        info.pid = info.pid_started = None  # nobody writes here any more: find_unfinished may offer a repair
        try:
            write_info(info)
        except OSError:
            pass
        self._result = info
        return info


def _new_folder(root: Path, base: str) -> Path:
    """Create and return a fresh folder `root/base` (with -2, -3, … appended when taken)."""
    for k in range(1, 1000):
        path = root / (base if k == 1 else f"{base}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise SessionError(f"cannot create the session folder {path} ({exc.strerror}): check free space "
                               "and permissions") from None
        return path
    raise SessionError(f"too many sessions named {base} in {root}: choose another name")


def _replace_text(path: Path, text: str) -> None:
    """Replace a small file via a temp file and rename (no fsync: this runs on the GUI thread; a process
    crash cannot tear it, and the writer thread's periodic fsync covers the rest)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _process_identity() -> tuple[int, float | None]:
    """This process's pid and start time, so that a later reader can tell whether it is still alive."""
    pid = os.getpid()
    try:
        import psutil

        return pid, psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001 - psutil missing or restricted: the pid alone still helps
        return pid, None


def process_alive(pid: int | None, started: float | None) -> bool:
    """True when process `pid` (started at `started`, psutil's create_time) is still running."""
    if pid is None:
        return False
    try:
        import psutil

        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 1.0:
            return False  # the pid was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied, psutil missing
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
