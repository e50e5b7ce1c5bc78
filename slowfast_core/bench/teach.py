"""`slowfast bench teach`: record -> teach -> recognise, end to end, with nothing downloaded.

1. Pretrain a backbone with the training loop on synthetic actions (`slowfast synth`: every class of the task
   but those the actor will perform, or `--pretrain-classes`), unless `--base` names one.
2. The scripted actor (`synthetic:actions`) performs OTHER classes (new to the backbone) while the real engine
   runs the base model and a real `SessionRecorder` records video, predictions and features; the labels are
   marked at the script's times, as a person pressing the label keys would.
3. Teach on the recorded features (`train.teach`): timed from the recording's stop to the saved model, in
   this process (`teach_seconds`) and as the window runs it: a child process started ahead (when the Teach
   dialog opens; `child_ready_seconds` until it has imported torch) that gets its job at Train
   (`teach_child_seconds`: from Train to the saved model).
4. Use now, measured (`head_swap`): the taught classifier swapped into a live engine paced at 30 fps, the largest
   frame gap after the swap against the one before it, and the time to the first taught label.
5. Run the taught model over the next minute of the actor and measure how many windows' top-1 agrees with
   the script (the action covering most of the window): `agreement`. The actor goes on as it was recorded
   (its script repeats, like a person acting on in the same room); `agreement_new_scenes` is the harder
   figure on another seed's scenes (unseen backgrounds, positions, sizes and speeds), over every window and over
   those inside one scripted action (`agreement_new_scenes_inside`: no window straddling two actions).

Offline mode (the default) feeds the engine every frame and runs every window (`realtime=False`), so the result
does not depend on the machine's speed; `--realtime` paces the actor at 30 fps like a camera.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slowfast_core.model.net import SlowFast
from slowfast_core.stream.types import Prediction
from slowfast_core.video.actions import DEFAULT_TASK, MAX_CLASSES, TASKS, class_name, parse_class_list
from slowfast_core.video.scripted import ActionScriptSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeachBenchSettings:
    """Sizes of the proof; the defaults are the full-size bench, a test passes smaller ones."""

    arch: str = "slowfast_tiny"
    pretrain_classes: tuple[int, ...] = ()  # the backbone's classes; (): every class the actor does not perform
    pretrain_clips: int = 40  # per class
    pretrain_epochs: int = 30
    pretrain_minutes: float | None = 3.0
    pretrain_beta_inv: int = 16  # the Fast pathway's 1/beta: Table 5b's best, and it carried to a new shape (README)
    # the Fast pathway on frame differences, at least 4 channels wide: with frames, one from-scratch backbone in three
    # to five learnt the tick; with differences every seed tried did, within 5-13 epochs (README, "What stalls")
    pretrain_fast_input: str = "diff"
    pretrain_fast_min_channels: int = 4
    classes: tuple[int, ...] = (8, 9, 10, 11)  # the new classes the actor performs (in a seeded order)
    seconds: float = 4.0  # per action
    record_passes: int = 3  # passes of the script while recording
    live_seconds: float = 60.0
    stride_s: float = 0.5
    backend: str = "auto"
    realtime: bool = False
    seed: int = 0
    width: int = 320  # the actor's frames
    height: int = 240
    task: str = DEFAULT_TASK  # the synthetic task of the backbone and the actor (`slowfast synth --task`)

    def backbone_classes(self) -> tuple[int, ...]:
        """The classes the backbone is pretrained on: `pretrain_classes`, else all of the task's but those the actor
        performs, so that the backbone knows every shape, finish, tick or motion it can while the taught
        classes stay new to it (README, "Teach": a backbone pretrained on one or two shapes carried little)."""
        return self.pretrain_classes or tuple(c for c in range(MAX_CLASSES) if c not in self.classes)


def pretrain(settings: TeachBenchSettings, work: Path, say: Callable[[str], None]) -> Path:
    """A backbone trained on the synthetic classes `settings.backbone_classes()` (`slowfast synth` + `slowfast
    train --beta-inv 16 --fast-min-channels 4 --fast-input diff`, with the classifier at the from-scratch runs'
    multiple of the rate); its checkpoint."""
    from slowfast_core.train.loop import train
    from slowfast_core.train.run_folder import BEST
    from slowfast_core.train.recipe import FROM_SCRATCH_HEAD_LR_MULT, TrainConfig
    from slowfast_core.train.synth import SynthSettings, generate

    data = work / "synth"
    classes = settings.backbone_classes()
    say(f"synthesising {len(classes)} classes x {settings.pretrain_clips} clips")
    generate(data, SynthSettings(classes=len(classes), only=classes, clips_per_class=settings.pretrain_clips,
                                 seed=settings.seed, task=settings.task))
    say("pretraining the backbone")
    config = TrainConfig(data=[str(data)], out=str(work / "pretrain"), arch=settings.arch,
                         epochs=settings.pretrain_epochs, minutes=settings.pretrain_minutes, device="cpu",
                         seed=settings.seed, head_lr_mult=FROM_SCRATCH_HEAD_LR_MULT,
                         beta_inv=settings.pretrain_beta_inv, fast_input=settings.pretrain_fast_input,
                         fast_min_channels=settings.pretrain_fast_min_channels)
    return train(config).out / BEST


def _script(settings: TeachBenchSettings, seconds: float, seed: int) -> list[tuple[int, float]]:
    """`seconds` of the actor: the classes in a new seeded order each pass, every entry a fresh scene
    (background, position, size, speed), as a person performs each action a little differently every time."""
    rng = np.random.default_rng(seed)
    passes = max(1, int(np.ceil(seconds / (settings.seconds * len(settings.classes)))))
    return [(settings.classes[i], settings.seconds) for _ in range(passes) for i in rng.permutation(len(settings.classes))]


def _source(settings: TeachBenchSettings, script: list[tuple[int, float]], seconds: float,
            seed: int) -> ActionScriptSource:
    """The actor performing `script` (over and over) for `seconds`."""
    return ActionScriptSource(script, width=settings.width, height=settings.height, paced=settings.realtime,
                              frames=int(round(seconds * 30.0)), seed=seed, task=settings.task)


def _run(model: SlowFast, source: ActionScriptSource, settings: TeachBenchSettings, listeners: list[Any]) -> None:
    """The real engine over `source` until it ends (offline: every window)."""
    from slowfast_core.stream.engine import Engine, EngineSettings

    engine = Engine(EngineSettings(stride_s=settings.stride_s, backend=settings.backend, device="cpu",
                                   realtime=settings.realtime, smoothing=1))
    for message in run_engine_to_end(engine, listeners, lambda: engine.start(source, model)):
        logger.warning("engine: %s", message)


def run_engine_to_end(engine: Any, listeners: list[Any], start: Callable[[], None]) -> list[str]:
    """The benches' one engine run: subscribe `listeners`, `start()`, wait for the source's end, stop. A failed
    engine raises SlowFastError with its last error; otherwise returns the non-fatal errors' messages."""
    from slowfast_core.errors import SlowFastError

    errors: list[str] = []

    class Errors:
        def on_error(self, error: Any) -> None:
            errors.append(error.message)

    for listener in [*listeners, Errors()]:
        engine.subscribe(listener)
    start()
    try:
        engine.wait()
    finally:
        engine.stop(timeout=10.0)
    if engine.failed:
        raise SlowFastError(f"the engine failed: {errors[-1] if errors else 'no reason given'}")
    return errors


def record_seconds(settings: TeachBenchSettings) -> float:
    return settings.record_passes * settings.seconds * len(settings.classes)


def record(base: SlowFast, base_spec: str, settings: TeachBenchSettings, root: Path) -> tuple[Path, float]:
    """A session of the actor performing the new classes, labels at the script's times; (folder, stop seconds)."""
    from slowfast_core.sessions.recorder import SessionRecorder

    seconds = record_seconds(settings)
    source = _source(settings, _script(settings, seconds, settings.seed), seconds, settings.seed)
    names = [class_name(c, settings.task) for c in settings.classes]
    source_info = source.open()
    rec = SessionRecorder.start(root, name="bench teach", labels=names, source=source.name, fps=source_info.fps,
                                width=source_info.width, height=source_info.height, model=base.config.name,
                                weights=base_spec, min_free_bytes=0, queue_seconds=60.0)
    _run(base, source, settings, [rec])
    origin = rec.clock_origin or 0.0
    for action in source.script_labels(1):
        rec.mark(action.label, at=origin + action.start)
        rec.end_mark(at=origin + action.end)
    started = time.monotonic()
    rec.stop()
    return rec.path, time.monotonic() - started


def recognise(model: SlowFast, settings: TeachBenchSettings, *, new_scenes: bool) -> dict[str, Any]:
    """Run `model` live over the actor's next `live_seconds` and score it against the script.

    new_scenes False: the same actor goes on after the recording (the script repeats: the same performances,
    as a person goes on acting in the same room). True: another seed, so unseen backgrounds, positions, sizes.
    """
    rec_s = record_seconds(settings)
    if new_scenes:
        seed = settings.seed + 1
        source = _source(settings, _script(settings, settings.live_seconds, seed), settings.live_seconds, seed)
        skip = 0
    else:
        script = _script(settings, rec_s, settings.seed)
        source = _source(settings, script, rec_s + settings.live_seconds, settings.seed)
        skip = int(round(rec_s * source.fps))
    predictions: list[Prediction] = []

    class Collect:
        def on_prediction(self, p: Prediction) -> None:
            if p.first_index >= skip:
                predictions.append(p)

    _run(model, source, settings, [Collect()])
    return agreement(predictions, source)


def head_swap(base: SlowFast, taught: SlowFast, settings: TeachBenchSettings, *, around_s: float = 2.0,
              timeout_s: float = 300.0) -> dict[str, float]:
    """Use now, measured: the engine runs `base` live on the actor paced at 30 fps like a camera, then the taught
    classifier is swapped in (`Engine.swap_head`, no reload). Returns the largest gap between frames delivered
    in the `around_s` seconds after the swap (`swap_frame_gap_ms`), the same figure for the seconds before it
    (`frame_gap_before_ms`: the machine's own jitter), and the seconds from the swap to the first prediction in
    the taught labels (`swap_to_taught_s`)."""
    import threading

    from slowfast_core.errors import SlowFastError
    from slowfast_core.stream.engine import Engine, EngineSettings

    seconds = 120.0  # more than the warm-up and the measurement need: the engine is stopped once measured
    source = ActionScriptSource(_script(settings, seconds, settings.seed), width=settings.width,
                                height=settings.height, paced=True, frames=int(seconds * 30), seed=settings.seed,
                                task=settings.task)
    taught_labels = set(taught.meta.categories) - set(base.meta.categories)
    frames: list[float] = []
    predicting, taught_seen = threading.Event(), threading.Event()
    taught_at: list[float] = []

    class Watch:
        def on_frame(self, frame: Any) -> None:
            frames.append(time.monotonic())

        def on_prediction(self, p: Prediction) -> None:
            predicting.set()
            if p.topk and p.topk[0][0] in taught_labels and not taught_seen.is_set():
                taught_at.append(time.monotonic())
                taught_seen.set()

    engine = Engine(EngineSettings(stride_s=settings.stride_s, backend=settings.backend, device="cpu",
                                   realtime=True, smoothing=1))
    engine.subscribe(Watch())
    engine.start(source, base)
    try:
        if not predicting.wait(timeout_s):
            raise SlowFastError("the base model gave no prediction: cannot measure the head swap")
        threading.Event().wait(around_s)  # a baseline of frames before the swap
        swapped = time.monotonic()
        engine.swap_head(taught)
        if not taught_seen.wait(timeout_s):
            raise SlowFastError("no prediction in the taught labels after the head swap")
        threading.Event().wait(max(0.0, swapped + around_s - time.monotonic()))
    finally:
        engine.stop(timeout=10.0)
    times = np.array(frames)

    def largest_gap(t0: float, t1: float) -> float:
        inside = times[(times >= t0) & (times <= t1)]
        return float(np.diff(inside).max() * 1000.0) if len(inside) > 1 else float("nan")

    return {"swap_frame_gap_ms": round(largest_gap(swapped, swapped + around_s), 1),
            "frame_gap_before_ms": round(largest_gap(swapped - around_s, swapped), 1),
            "frame_period_ms": round(1000.0 / 30.0, 1), "swap_to_taught_s": round(taught_at[0] - swapped, 3)}


def agreement(predictions: list[Prediction], source: ActionScriptSource) -> dict[str, Any]:
    """Share of windows whose top-1 is the scripted action covering most of the window (and of those inside one)."""
    fps = source.fps
    hits = inside = inside_hits = 0
    for p in predictions:
        counts: dict[str, int] = {}
        for i in range(p.first_index, p.last_index + 1):
            label = source.label_at(i / fps)
            counts[label] = counts.get(label, 0) + 1
        truth = max(counts, key=lambda k: counts[k])
        top = p.topk[0][0]
        hits += top == truth
        if len(counts) == 1:
            inside += 1
            inside_hits += top == truth
    n = len(predictions)
    return {"agreement": hits / n if n else 0.0, "windows": n,
            "agreement_inside": inside_hits / inside if inside else None, "windows_inside": inside}


def _child_seconds(session: Path, base_spec: str, out: Path) -> tuple[float, float]:
    """(seconds until a warm child is ready, seconds from its job to its result), as the window runs it.

    The window starts the child when the Teach dialog opens (`--stdin`: it imports torch and the model code,
    says `ready`, then waits for its job), so a person waits only for the second figure after pressing Train.
    """
    import json
    import subprocess
    import sys

    from slowfast_core.errors import SlowFastError

    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "slowfast_core.train.teach_child", "--stdin"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    first = child.stdout.readline()
    ready_s = time.monotonic() - started
    if '"ready"' not in first:
        child.kill()
        raise SlowFastError(f"the teaching child did not start: {first.strip() or child.communicate()[1][-300:]}")
    job_started = time.monotonic()
    child.stdin.write(json.dumps(["--base", base_spec, "--out", str(out), str(session)]) + "\n")
    child.stdin.close()
    stdout = child.stdout.read()
    child.wait(timeout=1800)
    job_s = time.monotonic() - job_started
    if child.returncode != 0:
        raise SlowFastError(f"the teaching child failed: {(stdout.strip().splitlines() or [''])[-1]}")
    return ready_s, job_s


def bench_teach(settings: TeachBenchSettings, *, base_spec: str | None = None, work: Path | None = None,
                say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The whole proof (module doc); returns the figures (`agreement`, `teach_seconds`, ...)."""
    from slowfast_core.train.teach import load_base
    from slowfast_core.train.teach_child import teach

    with tempfile.TemporaryDirectory(prefix="slowfast-bench-teach-") as tmp:
        folder = Path(work) if work is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        spec = base_spec or str(pretrain(settings, folder, say))
        pretrain_s = time.monotonic() - t0
        base = load_base(spec)
        say(f"recording the actor performing classes {', '.join(map(str, settings.classes))}")
        session, stop_s = record(base, spec, settings, folder / "sessions")
        say("teaching")
        t1 = time.monotonic()
        result = teach([session], base_spec=spec, out=folder / "taught", backend=settings.backend)
        teach_s = time.monotonic() - t1
        say("teaching again as the window does it: in a child process")
        ready_s, child_s = _child_seconds(session, spec, folder / "taught-child")
        assert not isinstance(result, type(None))
        taught = load_base(str(result.model_path))  # type: ignore[union-attr]
        say("Use now: swapping the taught classifier into a live engine (paced at 30 fps)")
        swap = head_swap(base, taught, settings)
        say(f"running the taught model over the next {settings.live_seconds:.0f} s of the actor")
        scores = recognise(taught, settings, new_scenes=False)
        say(f"and over {settings.live_seconds:.0f} s of new scenes")
        unseen = recognise(taught, settings, new_scenes=True)
        return {**scores, "agreement_new_scenes": unseen["agreement"], "windows_new_scenes": unseen["windows"],
                "agreement_new_scenes_inside": unseen["agreement_inside"],
                "windows_new_scenes_inside": unseen["windows_inside"],
                "teach_seconds": round(teach_s, 3), "teach_child_seconds": round(child_s, 3),
                "child_ready_seconds": round(ready_s, 3),
                "stop_seconds": round(stop_s, 3), **swap,
                "pretrain_seconds": round(pretrain_s, 1), "val_top1": result.val_top1,  # type: ignore[union-attr]
                "reused": result.reused, "computed": result.computed,  # type: ignore[union-attr]
                "categories": result.categories, "arch": settings.arch, "base": spec,  # type: ignore[union-attr]
                "record_seconds": record_seconds(settings), "live_seconds": settings.live_seconds,
                "realtime": settings.realtime, "task": settings.task}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", default="slowfast_tiny", help="backbone preset to pretrain (default slowfast_tiny)")
    p.add_argument("--base", help="use these weights as the backbone instead of pretraining one")
    p.add_argument("--pretrain-minutes", type=float, default=3.0)
    p.add_argument("--classes", default="8-11",
                   help="the new classes the actor performs: A-B, A,B,C or both (default 8-11)")
    p.add_argument("--pretrain-classes", default=None, metavar="LIST",
                   help="the backbone's classes, e.g. 0-7 (default: every class the actor does not perform)")
    p.add_argument("--passes", type=int, default=3, help="passes of the script while recording (default 3)")
    p.add_argument("--live-seconds", type=float, default=60.0)
    p.add_argument("--seconds", type=float, default=4.0, help="seconds per action in the script (default 4)")
    p.add_argument("--frame-size", default="320x240", metavar="WxH", help="the actor's frames (default 320x240)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--realtime", action="store_true", help="pace the actor at 30 fps like a camera")
    p.add_argument("--task", choices=TASKS, default=DEFAULT_TASK,
                   help="the synthetic task of the backbone and the actor (`slowfast synth --task`; default "
                        f"{DEFAULT_TASK}): a --base must have been trained on it")
    p.add_argument("--work", help="keep the work files (synthetic data, runs, session) in this folder")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    import sys

    from slowfast_core.errors import ConfigError

    classes = parse_class_list(args.classes)
    try:
        width, height = (int(v) for v in args.frame_size.lower().split("x"))
        if not (32 <= width <= 4096 and 32 <= height <= 4096):
            raise ValueError
    except ValueError:
        raise ConfigError(f"--frame-size {args.frame_size!r}: use WxH from 32x32 to 4096x4096, e.g. 320x240") from None
    if not (args.seconds > 0 and args.live_seconds > 0):
        raise ConfigError("--seconds and --live-seconds must be positive")
    pretrain_classes = (parse_class_list(args.pretrain_classes, option="--pretrain-classes", minimum=2)
                        if args.pretrain_classes else ())
    if set(pretrain_classes) & set(classes):
        raise ConfigError(f"--pretrain-classes {args.pretrain_classes} holds classes the actor performs "
                          f"({args.classes}): the taught classes must be new to the backbone")
    settings = TeachBenchSettings(arch=args.arch, pretrain_minutes=args.pretrain_minutes, classes=classes,
                                  pretrain_classes=pretrain_classes,
                                  record_passes=args.passes, live_seconds=args.live_seconds, backend=args.backend,
                                  realtime=args.realtime, seconds=args.seconds, width=width, height=height,
                                  task=args.task)
    out = bench_teach(settings, base_spec=args.base, work=Path(args.work) if args.work else None,
                      say=lambda s: print(f"bench teach: {s}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"agreement {out['agreement']:.1%} of {out['windows']} live windows (inside one action: "
              f"{out['agreement_inside'] or 0:.1%} of {out['windows_inside']}; new scenes: "
              f"{out['agreement_new_scenes']:.1%}, inside one action "
              f"{out['agreement_new_scenes_inside'] or 0:.1%} of {out['windows_new_scenes_inside']}); taught in {out['teach_seconds']:.2f} s (as the window's child process: "
              f"{out['teach_child_seconds']:.2f} s after Train, its start-up {out['child_ready_seconds']:.1f} s hidden "
              "while the dialog is open) "
              f"({out['reused']} recorded features reused, {out['computed']} computed); recorder stop "
              f"{out['stop_seconds']:.2f} s; held-out top-1 {out['val_top1'] or 0:.1%}; head swap: largest frame gap "
              f"{out['swap_frame_gap_ms']:.0f} ms after it ({out['frame_gap_before_ms']:.0f} ms before; a frame is "
              f"{out['frame_period_ms']:.1f} ms), taught labels {out['swap_to_taught_s']:.2f} s after it")
    return 0
