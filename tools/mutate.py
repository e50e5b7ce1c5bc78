"""`make mutate`: mutation testing of the pure core modules with mutmut, one module at a time.

Why mutmut (3.x) and not cosmic-ray: mutmut imports the code and the tests once, records which tests reach
which function, and runs each mutant in a forked child with only those tests. cosmic-ray starts a fresh test
command per mutant, and every start here pays torch's import (seconds): thousands of mutants would take hours.

Each module runs in its own folder under build/mutate/<name>/ (mutmut's `mutants/` copy lives there), with its
own test selection: only the fast unit tests that cover it (no Qt window, no OpenVINO conversion, no training
run). The run is CPU heavy and this machine is shared, so it runs under `nice -n 15` with one child.

    python tools/mutate.py                 # every module below, then build/mutate/scores.md
    python tools/mutate.py records guard   # just these (names from MODULES)
    python tools/mutate.py --report        # rebuild the table from the runs already made

The table's score is killed / (all mutants): a timeout counts as killed (the mutant made the test hang, which a
test run notices); a mutant no selected test reaches counts as surviving.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "mutate"


@dataclass(frozen=True)
class Target:
    """One module to mutate and the fast unit tests that cover it (pytest node ids or files)."""

    name: str
    module: str  # the file, relative to the repository
    tests: tuple[str, ...]


MODULES: tuple[Target, ...] = (
    Target("records", "slowfast_core/records.py", ("tests/test_records.py", "tests/test_smoothing.py")),
    Target("windows", "slowfast_core/video/windows.py", ("tests/test_windows.py", "tests/test_sampling.py",
                                                          "tests/test_scheduler.py")),
    Target("sampling", "slowfast_core/video/sampling.py", ("tests/test_sampling.py", "tests/test_preprocess.py")),
    Target("preprocess", "slowfast_core/video/preprocess.py", ("tests/test_preprocess.py",)),
    Target("smoothing", "slowfast_core/stream/smoothing.py", ("tests/test_smoothing.py",)),
    Target("ringbuffer", "slowfast_core/stream/ringbuffer.py", ("tests/test_ringbuffer.py",)),
    Target("guard", "slowfast_core/backends/guard.py", ("tests/test_guard.py",)),
    Target("cache", "slowfast_core/backends/cache.py",
           ("tests/test_cache_unit.py", "tests/test_model_cache.py", "-k", "not untrained_starts_reuse_one_entry")),
    Target("info_reader", "slowfast_core/sessions/info_reader.py", ("tests/test_info_reader.py",)),
    Target("tables", "slowfast_core/sessions/tables.py", ("tests/test_tables.py",)),
    Target("export", "slowfast_core/sessions/export.py",
           ("tests/test_export_unit.py", "tests/test_sessions_export.py")),
    Target("agreement", "slowfast_core/sessions/agreement.py", ("tests/test_agreement.py",)),
    Target("recipe", "slowfast_core/train/recipe.py", ("tests/test_recipe.py",)),
    Target("data", "slowfast_core/train/data.py", ("tests/test_train_data.py",)),
    Target("teach", "slowfast_core/train/teach.py", ("tests/test_teach_unit.py",)),
    Target("checkpoint_file", "slowfast_core/weights/checkpoint_file.py", ("tests/test_checkpoint_file.py",)),
    Target("signature", "slowfast_core/weights/signature.py", ("tests/test_signature.py", "tests/test_checkpoint.py",
                                                                "-k", "not pytorchvideo_pyth_gives")),
)


#: Mutants that cannot change what the code does, by the shape of their diff (the mutated line, after `+`). A
#: surviving mutant that matches one is listed as equivalent with the reason; any other survivor is a test to write.
EQUIVALENT: tuple[tuple[str, str], ...] = (
    (r'encoding=(None|"UTF-8")|\), \)', "the text encoding: UTF-8 is this platform's default and its name is case-blind"),
    (r"indent=(None|\d+)|json\.dumps\([^)]*, \)", "JSON layout only: any indent reads back the same"),
    (r"\.astype\(None\)", "astype(None) is float64, the dtype it replaces"),
    (r'kind="STABLE"', "numpy's sort kinds are case-blind"),
    (r"reshape\(-2\)", "numpy reads any negative size as 'the rest', as -1"),
    (r'with_suffix\("\.TMP"\)', "the name of a temporary file that is renamed at once"),
    (r'"XX[^"]*XX"|f"XX', "the message still holds its words (tests match the words, not the exact string)"),
    (r'"FORMAT" not in invalid', "an invalid format gets the placeholder FORMAT_VERSION, which is never newer"),
    (r'read as far as understood", \)\)', "the dropped argument is Problem.repair, whose default is None"),
    (r"\) <= 1e-9:", "two float times exactly 1e-9 apart never occur: < and <= agree"),
    (r'float\("(NAN|INF)"\)', "float() reads nan and inf in any case"),
    (r"(<|>=) (latest_time|last_end) \+ TIME_EPS", "differs only for a time exactly TIME_EPS off, which the slack is for"),
    (r"np\.asarray\((timestamps|ends), (dtype=None)?\)", "the values are floats already (or made floats at once): float64 "
                                                         "either way"),
    (r"\.clamp_\((None, num_available - 1|0, None|0, |0, num_available \+ 1)\)",
     "linspace(0, n - 1, k).long() never leaves [0, n - 1] (test_sampling checks every n < 140, k < 70): the clamp "
     "is a guard that never acts"),
    (r"np\.arange\(num, (dtype=None)?\)", "an int arange divided by fps is float64 all the same"),
    (r"^ {16}current = None$", "smoothing: a class leading the shown one by more than the hysteresis is above the "
                              "threshold, so the next line takes it all the same"),
    (r'np\.searchsorted\(ts, instants, \)', "side='left' is searchsorted's default"),
    (r'np\.clip\(np\.searchsorted\(ts, instants, side="left"\), (None|1),',
     "searchsorted is never negative, and a right neighbour at 1 instead of 0 leaves the left one (0) nearer"),
    (r"np\.clip\(right - 1, 0, (None|len\(ts\) \+ 1|len\(ts\) - 2)\)",
     "right <= len - 1, so right - 1 <= len - 2: the upper bound never acts"),
    (r"\.reshape\(None\)", "np.unique's inverse of a 1-D array is 1-D: reshape(None) leaves it as it is"),
    (r"\) < np\.abs\(ts\[right\] - instants\) \+ 1e-9", "equal distances still differ by the 1e-9 slack: < and <= "
                                                            "agree"),
    (r"indent=1\), \), encoding|\*\*extra\}, \)", "JSON layout only: any indent reads back the same"),
    (r"config\.lr >= 0 and", "an lr of 0 means 'the default' and is replaced before this check"),
    (r"if warmup_steps >= 0 and step < warmup_steps:", "steps are never negative: with no warm-up both are false"),
    (r"step <= warmup_steps:", "at the last warm-up step both branches give base_lr"),
    (r"named_parameters\(recurse=None\)", "None is as false as False"),
    (r'if mode == "ALL":', "mode 'all' then also sets the trained blocks trainable, which they already are"),
    (r"frozen_modules: bool = True", "freeze_bn does not use frozen_modules"),
    (r"strict=(None|False)\)", "an unterminated quote is refused either way: not CSV, or not the right number of fields"),
    (r"if \(len\(rows\) == 1\) or True", "one non-blank line is always one CSV row"),
    (r"from_rows\(None\)", "None is as empty as []"),
    (r"if width <= height:", "a square frame gives the same size by either branch"),
    (r"interpolation=None\)", "OpenCV's resize interpolates linearly by default"),
    (r"torch\.empty\(.*dtype=None\)|torch\.tensor\(prep\.(mean|std), (dtype=None)?\)",
     "torch's default dtype is float32, the one named"),
    (r"np\.zeros\(0, (dtype=None)?\)\)", "np.zeros is float64 by default"),
    (r"np\.array\(rows, (dtype=None)?\)", "each row holds a float time: the array is float64 all the same"),
    (r'no labels read", \)\]|no predictions read", \)\]', "the dropped argument is Problem.repair, whose default is None"),
    (r"np\.(full|zeros)\(self\.capacity, ", "a slot's stamps are read only after it was written; numpy's default dtypes "
                                           "for these fills are the ones named"),
    (r"self\._closed = None|ensure_ascii=None", "None is as false as False"),
    (r"np\.asarray\(select\(self\._timestamps\[order\]\), (dtype=None)?\)", "the selection is integer positions "
                                                                             "already"),
    (r"np\.flatnonzero\(ts > ts\[-1\] - seconds - 1e-9\)", "equality with the 1e-9 slack added never occurs"),
    (r"target\.parent\.mkdir\((parents=(None|False), )?exist_ok=True\)",
     "export: clips/ is made before any clip is cut, so a label's folder (one name, no '/') needs no parents"),
    (r"if first <= pos:", "export: at first == pos the video is opened again and read to the same frame: the "
                          "same clip"),
    (r"target\.unlink\(missing_ok=(None|False)\)", "export: open_writer made the file (it raises otherwise), so it "
                                                    "is there to delete"),
    (r"if now - child\.lstat\(\)\.st_mtime >= older_than_s:", "cache: an age (now read inside, a float) exactly equal "
                                                                "to the limit never occurs"),
    (r"limit / 2\*\*20,", "cache: the log's %d truncates a float as // does (the limit is not negative)"),
    (r'^    note = ""$', "teach: a note is only kept when true, and '' is as false as None"),
    (r"seen\[spec\] = seen\.get\(spec, (1\) \+ 1|0\) \+ 2)", "teach: every count shifted by one or doubled alike: the "
                                                              "most common model is the same"),
    (r"np\.zeros\(\(max\(len\(s\.labels\), 2\)", "teach: an extra all-zero row; argmax keeps the first row at a tie, "
                                                  "and windows no segment touches take a gap group"),
    (r"c = categories\.index\(seg\.label\) if (\(seg\.label in categories\) or True|seg\.label in categories) else "
     r"len\(categories\) (- 1|[+-] [12])$", "teach: every label is in categories (the segments' names, then "
                                             "background): the else never runs"),
    (r"if b\.start <= a\.end - 1e-6 and", "teach: differs only for an overlap of exactly the 1e-6 slack"),
    (r"return load_model\(arch=spec, input_size=size\)", "teach: load_model's weights default to None, the value "
                                                         "dropped"),
    (r'why or "CANNOT BE READ"', "read_text always says why it returned no text: the fallback never shows"),
)


def equivalent(diff: str) -> str | None:
    """The reason a mutant's diff cannot change behaviour (EQUIVALENT), or None."""
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    for pattern, reason in EQUIVALENT:
        if added and all(re.search(pattern, line) for line in added):
            return reason
    return None


def _config(target: Target) -> str:
    """The folder's pyproject.toml: mutmut's settings and a plain pytest set-up (no xdist, no durations)."""
    tests = [t for t in target.tests if t.startswith("-") or not t.startswith("tests/") or
             (REPO / t.split("::")[0]).exists()]
    return "\n".join([
        "[tool.mutmut]",
        'source_paths = ["slowfast_core"]',
        f'only_mutate = ["{target.module}"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-x"]',
        "", "[tool.pytest.ini_options]", 'testpaths = ["tests"]', "timeout = 120",
        'filterwarnings = ["ignore::FutureWarning", "ignore::DeprecationWarning", "ignore::UserWarning"]', "",
    ])


def prepare(target: Target) -> Path:
    """A fresh folder for one module: links to the sources and tests, and its own configuration."""
    folder = BUILD / target.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in ("slowfast_core", "app", "tests"):
        (folder / name).symlink_to(REPO / name, target_is_directory=True)
    (folder / "pyproject.toml").write_text(_config(target))
    return folder


def run(target: Target) -> int:
    """Mutate one module (niced, one child); returns mutmut's exit status."""
    if not any((REPO / t.split("::")[0]).is_file() for t in target.tests if t.startswith("tests/")):
        print(f"== {target.name}: none of its tests exist ({', '.join(target.tests)}): skipped", flush=True)
        return 1
    folder = prepare(target)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # the mutated copy must be the one imported
    mutmut = [sys.executable, "-m", "mutmut"]
    print(f"== {target.name}: {target.module} with {' '.join(target.tests)}", flush=True)
    with open(folder / "run.log", "w") as log:  # mutmut's progress spinner: kept out of the terminal
        status = subprocess.call(["nice", "-n", "15", *mutmut, "run", "--max-children", "1"], cwd=folder, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
    subprocess.call([*mutmut, "export-cicd-stats"], cwd=folder, env=env, stdout=subprocess.DEVNULL)
    refresh_survivors(target)
    return status


def refresh_survivors(target: Target) -> None:
    """Rewrite the module's survivors.md from its last run, classified by the current EQUIVALENT rules."""
    folder = BUILD / target.name
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with open(folder / "survivors.md", "w") as out:
        subprocess.call([sys.executable, __file__, "--survivors-here"], cwd=folder, env=env, stdout=out)


def write_survivors() -> None:
    """Print every mutant of the last run in the current folder that no test killed: its diff and whether it is
    equivalent (EQUIVALENT) or needs a test. In one process: a `mutmut show` per mutant pays torch's import."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in data.exit_code_by_key.items():
            status = status_by_exit_code[code]
            if status not in ("survived", "no tests", "suspicious"):
                continue
            diff = get_diff_for_mutant(name, path=path)
            changed = "\n".join(line for line in diff.splitlines() if re.match(r"^[-+](?![-+])", line))
            print(f"## {name} ({status}): {equivalent(diff) or 'NOT EXPLAINED: write a test'}\n{changed}\n")


def score(target: Target) -> dict[str, int] | None:
    """The counts of the module's last run, or None when it has not run."""
    path = BUILD / target.name / "mutants" / "mutmut-cicd-stats.json"
    return json.loads(path.read_text()) if path.exists() else None


def report() -> str:
    """The per-module table (markdown) for the README, and the overall score."""
    lines = ["| module | mutants | killed | survived: equivalent | survived: not explained | killed % |",
             "|---|---:|---:|---:|---:|---:|"]
    total = killed_all = equivalent_all = 0
    for target in MODULES:
        s = score(target)
        if s is None:
            continue
        killed = s["killed"] + s["timeout"]
        notes = (BUILD / target.name / "survivors.md").read_text() if (BUILD / target.name / "survivors.md").exists() \
            else ""
        unexplained = notes.count("NOT EXPLAINED")
        same = notes.count("\n## ") + notes.startswith("## ") - unexplained
        lines.append(f"| `{target.module}` | {s['total']} | {killed} | {same} | {unexplained} "
                     f"| {100 * killed / max(1, s['total']):.0f}% |")
        total += s["total"]
        killed_all += killed
        equivalent_all += same
    lines.append(f"| **all** | {total} | {killed_all} | {equivalent_all} | {total - killed_all - equivalent_all} "
                 f"| **{100 * killed_all / max(1, total):.1f}%** |")
    return "\n".join(lines) + "\n"


#: every surviving mutant of the last runs, with its diff and why it is equivalent (kept in the repository)
SURVIVORS = REPO / "tools" / "mutate-survivors.md"


def survivors_list() -> str:
    """One markdown document of every module's survivors (`survivors.md` of each run), for the repository."""
    parts = ["# Surviving mutants of `make mutate`", "",
             "Written by `python tools/mutate.py --report` from the last runs (see README, Mutation testing). Each "
             "survivor is either equivalent (the reason follows its name) or a test still to write.", ""]
    for target in MODULES:
        notes = BUILD / target.name / "survivors.md"
        if score(target) is None or not notes.exists():
            continue
        text = notes.read_text().strip()
        parts += [f"## {target.module}", "", "```diff", text or "(none)", "```", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="modules to mutate (default: all)")
    parser.add_argument("--report", action="store_true", help="only rebuild build/mutate/scores.md")
    parser.add_argument("--survivors-here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.survivors_here:
        write_survivors()
        return 0
    known = {t.name: t for t in MODULES}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if not args.report:
        for target in [known[n] for n in args.names] or MODULES:
            run(target)
    BUILD.mkdir(parents=True, exist_ok=True)
    for target in MODULES:
        if score(target) is not None:
            refresh_survivors(target)
    table = report()
    (BUILD / "scores.md").write_text(table)
    SURVIVORS.write_text(survivors_list())
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
