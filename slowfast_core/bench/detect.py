"""`slowfast bench detect`: who is doing what, end to end on synthetic actors, as one JSON document.

1. a backbone: `--base CLASSIFIER`, else pretrained here (`slowfast synth` + `slowfast train`, as bench teach);
2. multi-actor data in AVA's layout (`slowfast synth --actors N`), each actor doing its own action;
3. the RoI head trained with ground-truth boxes; frame-mAP@0.5 on held-out videos with ground-truth boxes;
4. the scripted multi-actor scene (`synthetic:actions...,actors=N`, every actor changing action every few
   seconds, fresh scenes) through the real engine in detection mode (capture, ring buffer, scheduler, the
   worker running the scene's own boxes as the person detector, the RoI head and the tracker with a Smoother
   per track; offline pacing, so every window runs): how often each actor's shown label agrees with its
   script, and how often identities switch;
5. cost: the RoI head with 1 and 3 people against one whole-frame classification by the same backbone at the
   same input (detector excluded), and the person detector's own cost.

`per_person_agreement` counts person-windows that lie wholly inside one scripted action (a window straddling a
change has two right answers); `per_person_agreement_all` counts every person-window.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: four of the scene's 16 (the pathways task, `video.actions`): red disc plain still, red disc striped ticking,
#: blue square plain ticking, blue square striped still; every pair differs in two of shape, finish and tick
DEFAULT_CLASSES = (0, 3, 5, 6)


@dataclass(frozen=True)
class DetectBenchSettings:
    arch: str = "slowfast_tiny"
    classes: tuple[int, ...] = DEFAULT_CLASSES
    actors: int = 3
    videos: int = 24
    seconds_per_action: float = 4.0
    live_seconds: float = 60.0
    stage_width: int = 96
    height: int = 96
    pretrain_minutes: float = 3.0
    pretrain_clips: int = 40
    epochs: int = 300
    end_to_end_epochs: int = 0  # backbone and head trained together first (train_end_to_end)
    end_to_end_lr: float = 1e-3
    seed: int = 0
    cost_repeats: int = 7


def pretrain(settings: DetectBenchSettings, work: Path, say: Callable[[str], None]) -> Path:
    """A backbone trained on the 16 synthetic classes' first 8 (bench teach's recipe); its checkpoint."""
    from slowfast_core.bench.teach import TeachBenchSettings, pretrain as teach_pretrain

    return teach_pretrain(TeachBenchSettings(arch=settings.arch, pretrain_minutes=settings.pretrain_minutes,
                                             pretrain_clips=settings.pretrain_clips, seed=settings.seed), work, say)


def _engine_people(classifier: Any, model: Any, source: Any, detector: Any) -> list[Any]:
    """Every window's prediction from the real engine (offline source: every window runs) in detection mode."""
    from slowfast_core.bench.teach import run_engine_to_end
    from slowfast_core.detect.people import PeopleStep
    from slowfast_core.stream.engine import Engine, EngineSettings

    engine = Engine(EngineSettings(backend="torch-cpu", device="cpu", realtime=False, features=False))
    predictions: list[Any] = []

    class Listener:
        def on_prediction(self, p: Any) -> None:
            predictions.append(p)

    run_engine_to_end(engine, [Listener()], lambda: engine.start(
        source, classifier, preprocessing=model.meta.preprocessing, people=PeopleStep(model, detector)))
    return predictions


def live_run(model: Any, classifier: Any, settings: DetectBenchSettings) -> dict[str, Any]:
    """The scripted multi-actor scene through the engine's detection path: agreement with the script, id switches."""
    from slowfast_core.detect.tracker import iou
    from slowfast_core.video.multi_actor import MultiActorScene
    from slowfast_core.detect.scene_boxes import SceneBoxesDetector
    from slowfast_core.video.multi_actor_source import MultiActorSource

    rng = np.random.default_rng([settings.seed, 99])
    entries = int(np.ceil(settings.live_seconds / settings.seconds_per_action))
    scripts = [[(settings.classes[int(c)], settings.seconds_per_action)
                for c in rng.integers(0, len(settings.classes), size=entries)] for _ in range(settings.actors)]
    scene = MultiActorScene(scripts, width=settings.stage_width * settings.actors, height=settings.height,
                            seed=settings.seed + 12345)
    frames = int(round(settings.live_seconds * scene.fps))
    source = MultiActorSource(scene, paced=False, frames=frames, seed=settings.seed)
    predictions = _engine_people(classifier, model, source, SceneBoxesDetector.of_scene(source.scene))
    names = model.meta.categories
    label_of = {c: names[i] for i, c in enumerate(settings.classes)}
    agree = total = agree_all = total_all = 0
    last_track: dict[int, int] = {}
    switches = 0
    inferred: list[float] = []
    for p in predictions:
        inferred.append(p.timings.inferred_ms)
        first = int(round(p.start_time * scene.fps))
        last = int(round(p.end_time * scene.fps))
        people = p.people or ()
        for truth in scene.truth((first + last) // 2):
            box = truth.box
            norm = (box[0] / scene.width, box[1] / scene.height, box[2] / scene.width, box[3] / scene.height)
            match = max(people, key=lambda q: iou(q.box, norm), default=None)
            total_all += 1
            if match is None or iou(match.box, norm) < 0.5:
                continue
            previous = last_track.get(truth.person_id)
            if previous is not None and previous != match.track:
                switches += 1
            last_track[truth.person_id] = match.track
            ok = match.label == label_of[truth.class_index]
            agree_all += ok
            actor = scene.actors[truth.person_id]
            if actor.entry_at(first)[0] == actor.entry_at(last)[0] and (last - first) < actor.cycle:
                total += 1
                agree += ok
    minutes = settings.live_seconds / 60.0
    return {"per_person_agreement": agree / total if total else 0.0,
            "per_person_agreement_all": agree_all / total_all if total_all else 0.0,
            "person_windows": total, "windows": len(predictions), "id_switches": switches,
            "id_switches_per_min": switches / minutes, "live_seconds": settings.live_seconds,
            "live_inferred_ms_median": statistics.median(inferred) if inferred else None}


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def cost(model: Any, classifier: Any, *, width: int, height: int, repeats: int) -> dict[str, Any]:
    """Median ms of the detection model with 1 and 3 boxes and of one whole-frame classification, same input;
    interleaved per repeat so the machine's load affects each alike."""
    from slowfast_core.detect.people import boxes_tensor
    from slowfast_core.detect.base import PersonBox

    g = torch.Generator().manual_seed(0)
    geometry = model.config.geometry
    inputs = [torch.randn(1, 3, clip.frames, height, width, generator=g) for clip in geometry.pathways()]
    thirds = [PersonBox(i * width / 3 + 2, 2, (i + 1) * width / 3 - 2, height - 2) for i in range(3)]
    one, three = boxes_tensor(thirds[:1], 1, 1), boxes_tensor(thirds, 1, 1)
    runs: dict[str, list[float]] = {"classify": [], "people_1": [], "people_3": []}
    calls = {"classify": lambda: classifier(inputs), "people_1": lambda: model(inputs, one),
             "people_3": lambda: model(inputs, three)}
    with torch.inference_mode():
        for fn in calls.values():
            fn()
        for _ in range(repeats):
            for name, fn in calls.items():
                t0 = time.perf_counter()
                fn()
                runs[name].append(1000 * (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {"classify_ms": med["classify"], "people_1_ms": med["people_1"], "people_3_ms": med["people_3"],
            "cost_ratio_1_person": med["people_1"] / med["classify"],
            "cost_ratio_3_people": med["people_3"] / med["classify"], "input": [width, height]}


def detector_cost(name: str | None, *, width: int, height: int, repeats: int) -> dict[str, Any]:
    """The person detector's median ms on one frame, or why it could not be measured (weights not downloadable).

    A torchvision detector on a CPU is timed on torch and, where it converts, on OpenVINO (`detector_torch_ms`,
    `detector_openvino_ms`); `detector_ms` is the one the live path runs (`detector_backend`)."""
    from slowfast_core.errors import SlowFastError

    try:
        from slowfast_core.detect.factory import make_detector

        detector = make_detector(name, download=False, backend="torch")  # a bench downloads nothing
    except SlowFastError as exc:
        return {"detector": name or "default", "detector_ms": None, "note": str(exc)}
    frame = np.full((height, width, 3), 127, np.uint8)
    ms = _median_ms(lambda: detector.detect(frame), repeats)
    doc: dict[str, Any] = {"detector": detector.name, "detector_ms": ms}
    from slowfast_core.detect.openvino_detector import openvino_openable
    from slowfast_core.detect.torchvision_detector import TorchvisionPersonDetector

    if isinstance(detector, TorchvisionPersonDetector) and detector.device.type == "cpu" and openvino_openable():
        doc.update(detector_backend="torch", detector_torch_ms=ms, detector_openvino_ms=None)
        try:
            ov = TorchvisionPersonDetector.from_model(detector.model, detector.base_name,
                                                      min_score=detector.min_score, backend="openvino")
        except SlowFastError as exc:
            doc["note"] = str(exc)
        else:
            ov_ms = _median_ms(lambda: ov.detect(frame), repeats)
            doc.update(detector_ms=ov_ms, detector_backend="openvino", detector_openvino_ms=ov_ms)
    return doc


def bench_detect(settings: DetectBenchSettings, *, base: str | None = None, work: Path | None = None,
                 say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """All of the above; returns the JSON document."""
    from slowfast_core.weights.api import create_model
    from slowfast_core.train.detect import train_detection
    from slowfast_core.train.synth_actors import ActorSynthSettings, generate_actors
    from slowfast_core.weights.detection import load_detection_checkpoint

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="slowfast-bench-detect-") as tmp:
        folder = Path(work) if work is not None else Path(tmp)
        spec = base or str(pretrain(settings, folder, say))
        pretrain_s = time.monotonic() - t0
        say("rendering multi-actor videos")
        generate_actors(folder / "actors", ActorSynthSettings(
            actors=settings.actors, videos=settings.videos, seconds=3, seed=settings.seed,
            class_ids=settings.classes, stage_width=settings.stage_width, height=settings.height))
        say("training the per-person head with ground-truth boxes")
        trained = train_detection(folder / "actors", init=spec, out=folder / "detect", epochs=settings.epochs,
                                  seed=settings.seed, end_to_end_epochs=settings.end_to_end_epochs,
                                  end_to_end_lr=settings.end_to_end_lr)
        model = load_detection_checkpoint(trained.checkpoint)
        classifier = create_model(settings.arch, weights=spec)
        say("live run on the scripted multi-actor scene (the engine, detecting)")
        live = live_run(model, classifier, settings)
        prep = model.meta.preprocessing
        w = int(prep.short_side * settings.stage_width * settings.actors / settings.height)
        costs = cost(model, classifier, width=w, height=prep.short_side, repeats=settings.cost_repeats)
    return {"base": base or "pretrained here", "arch": model.config.name, "actors": settings.actors,
            "classes": [model.meta.categories[i] for i in range(len(settings.classes))],
            "pretrain_seconds": round(pretrain_s, 1), "frame_map_gt": trained.frame_map_gt,
            "frame_map_gt_boxes": trained.val_boxes, "head_train_seconds": round(trained.seconds, 1),
            **live, **costs, "threads": torch.get_num_threads(), "seconds": round(time.monotonic() - t0, 1)}


def pipeline_detect(args: argparse.Namespace) -> int:
    """`slowfast bench pipeline --detect`: detector and head cost per window with 1 and 3 people (random weights)."""
    from slowfast_core.weights.api import create_model
    from slowfast_core.model.detection import DETECTION_PRESETS
    from slowfast_core.weights.detection import create_detection_model

    classifier = create_model(args.arch, seed=0)
    arch = next((d.name for d in DETECTION_PRESETS.values() if d.backbone.name == classifier.config.name), None)
    if arch is None:
        from slowfast_core.errors import ConfigError

        raise ConfigError(f"--detect: no detection network is built on {args.arch}: use slowfast_8x8_r50 or "
                          "slowfast_tiny")
    model = create_detection_model(arch, seed=0)
    width = int(round(args.size * 16 / 9))  # a 16:9 camera frame at the input short side (full frame, no crop)
    doc = {"arch": arch, "size": args.size, **cost(model, classifier, width=width, height=args.size, repeats=7),
           **detector_cost(args.detector, width=640, height=360, repeats=7), "threads": torch.get_num_threads()}
    print(json.dumps(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", help="classifier checkpoint whose backbone to use instead of pretraining one")
    p.add_argument("--arch", default="slowfast_tiny", help="backbone preset to pretrain (default slowfast_tiny)")
    p.add_argument("--pretrain-minutes", type=float, default=3.0)
    p.add_argument("--actors", type=int, default=3)
    p.add_argument("--videos", type=int, default=24, help="training videos (val gets a quarter)")
    p.add_argument("--live-seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--end-to-end-epochs", type=int, default=0,
                   help="train the backbone with the RoI head this many epochs before fitting the head (default 0)")
    p.add_argument("--classes", default=None,
                   help="comma-separated synthetic classes the actors perform (default 0,3,5,6)")
    p.add_argument("--work", default=None, help="keep the data, checkpoints and runs here")
    p.add_argument("--json", action="store_true", help="print one JSON document (else a short summary)")


def parse_classes(text: str | None) -> tuple[int, ...]:
    """`--classes 0,5` (or ranges, 0-3): synthetic class indices (at least two, distinct, each 0..15); None:
    DEFAULT_CLASSES."""
    from slowfast_core.video.actions import parse_class_list

    return DEFAULT_CLASSES if text is None else parse_class_list(text)


def run(args: argparse.Namespace) -> int:
    import sys

    settings = DetectBenchSettings(arch=args.arch, pretrain_minutes=args.pretrain_minutes, actors=args.actors,
                                   videos=args.videos, live_seconds=args.live_seconds, seed=args.seed,
                                   end_to_end_epochs=args.end_to_end_epochs, classes=parse_classes(args.classes))
    doc = bench_detect(settings, base=args.base, work=Path(args.work) if args.work else None,
                       say=lambda m: print(m, file=sys.stderr))
    if args.json:
        print(json.dumps(doc))
        return 0
    print(f"per-person agreement {doc['per_person_agreement']:.1%} ({doc['person_windows']} person-windows), "
          f"id switches {doc['id_switches_per_min']:.2f}/min, frame-mAP@0.5 (GT boxes) {doc['frame_map_gt']:.3f}, "
          f"3 people cost {doc['cost_ratio_3_people']:.2f}x one classification")
    return 0
