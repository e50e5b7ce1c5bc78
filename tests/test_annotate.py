"""Annotated video: the overlay's layout and OpenCV painter, the video writer, `slowfast predict --annotate`,
`--json` / `--jsonl`, and a recorded session exported with its predictions and marked labels.

Videos are real: written with OpenCV here, read back with OpenCV, pixels compared with the source.
"""

from __future__ import annotations

from dataclasses import replace

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.commands.demo import write_synthetic_clip
from slowfast_core.errors import SlowFastError
from slowfast_core.overlay.colors import BAR_TRACK, DANGER, PANEL, STALE_OPACITY, class_rgba
from slowfast_core.overlay.content import (
    NO_ACTION_TEXT,
    PADDED_TEXT,
    UNTRAINED_TEXT,
    Marking,
    ShownPrediction,
    overlay_content,
)
from slowfast_core.overlay.layout import Fill, Font, Line, Rect, Text, base_px, elide, layout_for_frame, layout_overlay
from slowfast_core.overlay.opencv import CvTextMeasure, draw_overlay
from slowfast_core.sessions import SessionRecorder, load_session
from slowfast_core.sessions.annotate import export_annotated_video
from slowfast_core.stream.types import FramePacket, Prediction, Timings
from slowfast_core.video.encode import VideoFileWriter, VideoWriteError, check_output_path, part_path

from helpers.cli import run_cli

FAST = ["--size", "112", "--backend", "torch-eager", "--device", "cpu"]
W, H = 320, 240


def read_all(path: Path) -> tuple[list[np.ndarray], float, tuple[int, int]]:
    """Every frame of `path` (BGR), its fps and (width, height), as OpenCV decodes them."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    fps, size = cap.get(cv2.CAP_PROP_FPS), (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps, size


def region_diff(a: np.ndarray, b: np.ndarray, r: Rect) -> float:
    """Mean absolute difference of two frames inside `r`."""
    ys, xs = slice(int(r.y), int(r.bottom)), slice(int(r.x), int(r.right))
    return float(np.abs(a[ys, xs].astype(np.int16) - b[ys, xs].astype(np.int16)).mean())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "moving.mp4"
    assert write_synthetic_clip(path, seconds=3.0, fps=30, width=W, height=H) == 90
    return path


# ------------------------------------------------------------------------------------- content and layout

SHOWN = ShownPrediction(topk=(("wave", 0.7), ("clap", 0.2), ("jump", 0.05)), label="wave", confidence=0.7,
                        start=1.0, end=3.1)


def test_overlay_content_ages_and_goes_stale() -> None:
    c = overlay_content(SHOWN, now=3.6, topk=2, stale_seconds=3.0, untrained=False)
    assert (c.headline, c.confidence, [r[0] for r in c.rows]) == ("wave", 0.7, ["wave", "clap"])
    assert c.footer == "window 1.0–3.1 s (2.1 s) · 0.5 s ago" and not c.stale
    old = overlay_content(SHOWN, now=6.2, topk=2, stale_seconds=3.0, untrained=True)
    assert old.stale and old.footer.endswith("· stale") and old.untrained
    waiting = overlay_content(None, now=0.0, topk=5, stale_seconds=3.0, untrained=False)
    assert not waiting.has_prediction and waiting.rows == () and waiting.headline.startswith("waiting")
    none = overlay_content(ShownPrediction(SHOWN.topk, None, 0.1, 1.0, 3.1), now=3.2, topk=5, stale_seconds=3.0,
                           untrained=False)
    assert none.headline == NO_ACTION_TEXT and none.confidence is None
    padded = overlay_content(replace(SHOWN, padded=True), now=3.6, topk=2, stale_seconds=3.0, untrained=False)
    assert padded.footer == f"{PADDED_TEXT} · 0.5 s ago" and padded.headline == "wave"  # says it is partial


def test_layout_places_rows_bars_and_the_untrained_tag() -> None:
    content = overlay_content(SHOWN, now=3.5, topk=3, stale_seconds=3.0, untrained=True)
    layout = layout_for_frame(content, width=W, height=H, threshold=0.2, measure=CvTextMeasure())
    fills = [i for i in layout.items if isinstance(i, Fill)]
    texts = [i.text for i in layout.items if isinstance(i, Text)]
    assert fills[0].rect == layout.panel and fills[0].color == PANEL
    assert layout.panel.x == 10 and layout.panel.y == 10 and layout.panel.right <= W
    assert any(f.color == DANGER for f in fills) and UNTRAINED_TEXT in texts
    assert texts.count("70%") == 2 and "20%" in texts and "5%" in texts  # headline and row percentages
    bars = [f for f in fills if f.color == class_rgba("wave")]
    tracks = [f for f in fills if f.color == BAR_TRACK]
    assert len(tracks) == 3 and bars[-1].rect.w == pytest.approx(tracks[0].rect.w * 0.7)
    ticks = [i for i in layout.items if isinstance(i, Line)]
    assert [t.x1 for t in ticks] == pytest.approx([tr.rect.x + 0.2 * tr.rect.w for tr in tracks])
    # stale: the headline and rows fade, the panel does not
    stale = layout_for_frame(overlay_content(SHOWN, now=9.0, topk=3, stale_seconds=3.0, untrained=False),
                             width=W, height=H, threshold=0.2, measure=CvTextMeasure())
    faded = [f for f in stale.items if isinstance(f, Fill) and f.color[:3] == class_rgba("wave")[:3]]
    assert faded and all(f.color[3] == round(255 * STALE_OPACITY) for f in faded)
    assert stale.items[0].color == PANEL


def test_long_texts_are_elided_to_fit() -> None:
    measure = CvTextMeasure()
    font = Font(14)
    text = "a very long action name that cannot possibly fit"
    cut = elide(text, font, 80, measure)
    assert cut.endswith("…") and measure.width(cut, font) <= 80 < measure.width(text, font)
    assert elide("wave", font, 80, measure) == "wave"


def test_big_frames_get_the_windows_look_scaled_up() -> None:
    """A 1080p frame is laid out like the window showing it 544 px tall, then scaled by 1080/544."""
    content = overlay_content(SHOWN, now=3.5, topk=3, stale_seconds=3.0, untrained=False)
    small = layout_for_frame(content, width=960, height=544, threshold=0.2, measure=CvTextMeasure())
    big = layout_for_frame(content, width=1920, height=1088, threshold=0.2, measure=CvTextMeasure())
    assert big.panel.w == pytest.approx(2 * small.panel.w) and big.panel.h == pytest.approx(2 * small.panel.h, rel=0.02)
    sizes = {i.font.px for i in big.items if isinstance(i, Text)}
    assert max(sizes) >= 2 * 16  # the headline, 1.45 x 16 px at 544 px, doubled


def test_cv_painter_draws_the_layout_on_the_frame() -> None:
    frame = np.full((H, W, 3), 200, np.uint8)
    content = overlay_content(SHOWN, now=3.5, topk=3, stale_seconds=3.0, untrained=False)
    layout = draw_overlay(frame, content, threshold=0.2, marking=Marking(label="clap"))
    panel = layout.panel
    inside = frame[int(panel.y) + 4:int(panel.bottom) - 4, int(panel.x) + 4:int(panel.right) - 4]
    assert np.median(inside) < 80  # the dark panel (alpha 205 of #0c0e12 over 200)
    assert (frame[int(panel.bottom) + 5:, :] == 200).mean() > 0.5  # below the panel: the label box, else untouched
    bar = next(f for f in layout.items if isinstance(f, Fill) and f.color == class_rgba("wave"))
    y, x = int(bar.rect.cy), int(bar.rect.x + bar.rect.w / 2)
    b, g, r = frame[y, x]
    assert abs(int(r) - class_rgba("wave")[0]) < 12 and abs(int(b) - class_rgba("wave")[2]) < 12
    box = layout.extra["label"]
    b, g, r = frame[int(box.y) + 3, int(box.cx)]
    want = np.array(class_rgba("clap")[:3]) * 225 / 255 + 200 * 30 / 255
    assert np.abs(np.array([r, g, b]) - want).max() < 12


# -------------------------------------------------------------------------------------------- the writer


def test_writer_prefers_h264_and_keeps_size_and_rate(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    out = tmp_path / "out.mp4"
    frames = [np.full((H, W, 3), (i * 9) % 256, np.uint8) for i in range(25)]
    with VideoFileWriter(out, fps=25.0, width=W, height=H) as writer:
        for f in frames:
            writer.write(f)
        assert part_path(out).is_file() and not out.exists()  # written under the temporary name
    try:
        av.codec.Codec("libx264", "w")
        assert writer.encoder == "libx264 (PyAV)"
    except Exception:  # noqa: BLE001 - an FFmpeg without x264: another encoder, same file
        assert writer.encoder
    got, fps, size = read_all(out)
    assert (len(got), fps, size) == (25, 25.0, (W, H)) and not part_path(out).exists()
    assert [int(np.median(g)) for g in got[:5]] == pytest.approx([0, 9, 18, 27, 36], abs=1)  # levels kept


def test_writer_falls_back_to_mp4v_and_aborts_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "fallback.mp4"
    writer = VideoFileWriter(out, fps=30.0, width=W, height=H, encoders=(("pyav", "no-such"), ("opencv", "mp4v")))
    assert writer.encoder == "mp4v (OpenCV)"
    writer.write(np.zeros((H, W, 3), np.uint8))
    writer.abort()
    assert not out.exists() and not part_path(out).exists()
    with pytest.raises(VideoWriteError, match="tried no-such"):
        VideoFileWriter(out, fps=30.0, width=W, height=H, encoders=(("pyav", "no-such"), ("opencv", "no-such")))
    with pytest.raises(ValueError, match="does not fit"):
        VideoFileWriter(out, fps=30.0, width=W, height=H).write(np.zeros((10, 10, 3), np.uint8))


@pytest.mark.parametrize("case", ["extension", "no_folder", "folder", "same_as_input"])
def test_bad_output_paths_are_one_line_errors(tmp_path: Path, clip: Path, case: str) -> None:
    target = {"extension": tmp_path / "out.txt", "no_folder": tmp_path / "nope" / "out.mp4",
              "folder": tmp_path, "same_as_input": clip}[case]
    with pytest.raises(VideoWriteError) as exc:
        check_output_path(target, source=clip)
    assert "\n" not in str(exc.value) and isinstance(exc.value, SlowFastError)
    assert not any(p.name.endswith(".part.mp4") for p in tmp_path.iterdir())


# ---------------------------------------------------------------------------------- slowfast predict


def test_predict_annotate_writes_the_overlay_from_each_windows_end(tmp_path: Path, clip: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "annotated.mp4"
    code, stdout, err = run_cli(capsys, "predict", str(clip), *FAST, "--jsonl", "--stride", "100", "--topk", "3",
                              "--annotate", str(out))
    assert code == 0, err
    rows = [json.loads(line) for line in stdout.splitlines()]  # --jsonl stays clean JSON lines
    assert [r["last_frame"] for r in rows] == [63, 89]
    assert f"annotated video: {out} (90 frames, 30.00 fps, {W}x{H}" in err
    source, _, _ = read_all(clip)
    annotated, fps, size = read_all(out)
    assert (len(annotated), fps, size) == (90, 30.0, (W, H))
    # the panel: the UNTRAINED tag and the waiting notice from the first frame, the top-k rows only from the
    # frame where the first window ends (frame 63 = 2.1 s, the window's last grid instant) on
    content = overlay_content(None, now=0.0, topk=3, stale_seconds=3.0, untrained=True)
    waiting = layout_for_frame(content, width=W, height=H, threshold=0.2, measure=CvTextMeasure()).panel
    rows_area = Rect(waiting.x + 20, waiting.bottom + 15, waiting.w - 40, 40)
    for i in (0, 30, 62):
        assert region_diff(annotated[i], source[i], Rect(waiting.x + 4, waiting.y + 4, 100, 20)) > 30  # red tag
        assert region_diff(annotated[i], source[i], rows_area) < 12  # nothing there yet (codec noise only)
    for i in (63, 75, 89):
        assert region_diff(annotated[i], source[i], rows_area) > 30
    corner = Rect(W - 60, H - 40, 50, 30)  # away from the overlay: the video itself
    assert all(region_diff(annotated[i], source[i], corner) < 12 for i in (0, 45, 89))
    assert not part_path(out).exists()


def test_predict_annotate_real_clip_keeps_its_rate_and_size(tmp_path: Path, realvideo: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A real 28 fps clip: the annotated file has its 280 frames, 28 fps and 340x256, the overlay on it."""
    clip = realvideo / "demo.mp4"
    out = tmp_path / "demo-annotated.mp4"
    code, _, err = run_cli(capsys, "predict", str(clip), *FAST, "--stride", "100", "--annotate", str(out))
    assert code == 0, err
    source, src_fps, src_size = read_all(clip)
    annotated, fps, size = read_all(out)
    assert (len(annotated), fps, size) == (len(source), src_fps, src_size) == (280, 28.0, (340, 256))
    panel = Rect(12, 12, 150, 15)  # the UNTRAINED tag, on every frame
    assert all(region_diff(annotated[i], source[i], panel) > 30 for i in (0, 140, 279))


def test_predict_annotate_bad_output_fails_before_any_work(tmp_path: Path, clip: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run_cli(capsys, "predict", str(clip), *FAST, "--annotate", str(tmp_path / "no" / "a.mp4"))
    assert code == 2 and stdout == "" and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("slowfast: error:")]
    assert "does not exist" in line
    code, _, err = run_cli(capsys, "predict", str(clip), *FAST, "--annotate", str(clip))
    assert code == 2 and "is the input video" in err


def test_predict_json_is_one_document(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "predict", str(clip), *FAST, "--json", "--stride", "100", "--topk", "2")
    assert code == 0, err
    doc = json.loads(out)  # the whole of stdout is one JSON document
    assert set(doc) == {"video", "model", "preprocessing", "window", "annotated", "windows"}
    assert doc["video"]["width"] == W and doc["video"]["frames_read"] == 90 and doc["video"]["fps"] == 30.0
    assert doc["model"]["arch"] == "slowfast_8x8_r50" and doc["model"]["trained"] is False
    assert doc["window"]["frames"] == 64 and doc["window"]["stride"] == 100.0 and doc["preprocessing"]["short_side"] == 112
    assert doc["annotated"] is None
    assert [w["window"] for w in doc["windows"]] == [0, 1]
    # the same objects as `slowfast predict --jsonl` prints (a fresh random model: other labels), whose fields
    # are those of `slowfast run --jsonl`
    code, lines, _ = run_cli(capsys, "predict", str(clip), *FAST, "--jsonl", "--stride", "100", "--topk", "2")
    per_line = [json.loads(line) for line in lines.splitlines()]
    assert [{k: v for k, v in w.items() if k != "topk"} for w in per_line] == \
        [{k: v for k, v in w.items() if k != "topk"} for w in doc["windows"]]
    assert all(len(w["topk"]) == 2 and set(w["topk"][0]) == {"label", "prob"} for w in doc["windows"])
    assert set(doc["windows"][0]) >= {"window", "start", "end", "first_frame", "last_frame", "topk"}


# ------------------------------------------------------------------------------------ a recorded session

FPS = 20.0


def record_session(root: Path, *, seconds: float = 3.0, width: int = W, height: int = H) -> Path:
    """A finished session of bright frames: 'wave' marked over [0.5, 1.5) s, predictions every 0.25 s from
    0.95 s on ('wave' with 0.8, then 'jump')."""
    rec = SessionRecorder.start(root, name="annotate me", labels=["wave", "clap"], source="synthetic", fps=FPS,
                                width=width, height=height, model="slowfast_8x8_r50", weights="W",
                                min_free_bytes=0, queue_seconds=30.0)  # fed faster than a camera: queue it all
    t0 = rec.start_monotonic
    for i in range(int(seconds * FPS)):
        t = t0 + 0.001 + i / FPS
        img = np.full((height, width, 3), 190, np.uint8)
        img[:, : 1 + (i * 5) % width] = (200, 80, 40)
        rec.on_frame(FramePacket(index=i, timestamp=t, image=img, source_fps=FPS))
        if i == int(0.5 * FPS):
            rec.mark("wave", at=t)
        if i == int(1.5 * FPS):
            rec.end_mark(at=t)
        if i % 5 == 4 and i >= 19:
            label = "wave" if i < 36 else "jump"
            rec.on_prediction(Prediction(
                id=i, start_time=t - 0.5, end_time=t, first_index=max(0, i - 10), last_index=i,
                topk=((label, 0.8), ("clap", 0.1)), probs=np.zeros(3, np.float32), label=label, confidence=0.8,
                timings=Timings(1.0, 1.0, 1.0, 1.0), backend="torch-cpu"))
    info = rec.stop()
    assert info.state == "finished"
    return info.path


def test_session_export_draws_predictions_and_marked_labels(tmp_path: Path) -> None:
    path = record_session(tmp_path / "sessions")
    session = load_session(path)
    out = tmp_path / "session.mp4"
    seen: list[tuple[int, int]] = []
    report = export_annotated_video(session, out, progress=lambda done, total: seen.append((done, total)))
    source, _, _ = read_all(session.video_path)
    annotated, fps, size = read_all(out)
    assert (report.frames, len(annotated), fps, size) == (60, 60, FPS, (W, H)) == (len(source), 60, FPS, (W, H))
    assert seen[-1] == (60, 60) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))
    times = session.frames.time
    frame = Rect(0, 0, W, H)
    label_box = layout_overlay(
        overlay_content(None, now=0, topk=2, stale_seconds=3, untrained=False), area=frame, bounds=frame,
        base=base_px(H), threshold=0.2, measure=CvTextMeasure(), marking=Marking(label="wave"),
    ).extra["label"]
    centre = Rect(label_box.cx - 8, label_box.y + 2, 16, 4)  # above the text: only the box's colour
    wave = np.array(class_rgba("wave")[2::-1], float)
    for k in range(60):
        marked = 0.5 <= times[k] < 1.5
        got = annotated[k][int(centre.y):int(centre.bottom), int(centre.x):int(centre.right)].reshape(-1, 3).mean(0)
        src = source[k][int(centre.y):int(centre.bottom), int(centre.x):int(centre.right)].reshape(-1, 3).mean(0)
        if marked and 0.55 < times[k] < 1.45:
            assert np.abs(got - (wave * 225 + src * 30) / 255).max() < 15, k  # the label's box, in its colour
        elif not (0.45 < times[k] < 1.55):
            assert np.abs(got - src).max() < 12, k  # no label marked: the video itself
    # the first prediction's window ends at frame 19 (0.95 s): rows appear there, not before
    waiting = layout_overlay(
        overlay_content(None, now=0, topk=2, stale_seconds=3, untrained=False), area=frame, bounds=frame,
        base=base_px(H), threshold=0.2, measure=CvTextMeasure()).panel
    rows = Rect(waiting.x + 20, waiting.bottom + 5, waiting.w - 40, 30)
    assert all(region_diff(annotated[k], source[k], rows) < 12 for k in (0, 10, 18))
    assert all(region_diff(annotated[k], source[k], rows) > 30 for k in (19, 40, 59))


def test_session_without_video_is_a_clear_error(tmp_path: Path) -> None:
    rec = SessionRecorder.start(tmp_path, name="empty", labels=["wave"], source="synthetic", fps=FPS, width=64,
                                height=48, model="m", min_free_bytes=0)
    rec.stop()
    (path,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    with pytest.raises(SlowFastError) as exc:
        export_annotated_video(path, tmp_path / "x.mp4")
    assert "no video" in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "x.mp4").exists()


def test_session_export_cancelled_leaves_no_file(tmp_path: Path) -> None:
    path = record_session(tmp_path / "sessions")
    out = tmp_path / "cancelled.mp4"

    class Cancelled(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done >= 20:
            raise Cancelled()

    with pytest.raises(Cancelled):
        export_annotated_video(path, out, progress=progress)
    assert not out.exists() and not part_path(out).exists()
    assert os.listdir(tmp_path) == ["sessions"]
