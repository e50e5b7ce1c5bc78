"""The house's layering, read from the code: the import-linter contracts in pyproject.toml hold (layers from the
window and the commands down to spec/errors; no Qt or window code in slowfast_core; benchmarks only from their
command), no import cycle remains among slowfast_core's modules or its packages, and a runtime `slowfast`
command imports no benchmark (a fresh Python, read from its `sys.modules`).

Imports inside functions and under TYPE_CHECKING count: grimp (the graph behind import-linter) reads them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (each holds a cycle), sorted (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_cycle_finder_finds_a_planted_cycle() -> None:
    """The check below would see a cycle: two of them planted, one through three nodes."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert cycles(edges) == [["a", "b", "c"], ["e", "f"]]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []


def test_the_layer_contracts_hold(tmp_path: Path) -> None:
    """In a child Python: import-linter configures logging with `dictConfig`, which disables every logger this
    process has already made (other tests' log checks would then hear nothing)."""
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            "sys.exit(lint_imports(no_cache=True, cache_dir=sys.argv[1], no_logo=True))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)  # the contracts are read from pyproject.toml there; no cache left in the repo
    assert "Contracts: 3 kept, 0 broken." in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("slowfast_core", include_external_packages=False, cache_dir=None)  # writes nothing


def _package(module: str) -> str:
    """The slowfast_core part `module` belongs to: its first-level package, or the top-level module itself."""
    return ".".join(module.split(".")[:2])


def test_no_module_cycle_and_no_package_cycle_in_the_core() -> None:
    graph = _graph()
    modules = {m: {t for t in graph.find_modules_directly_imported_by(m) if t.startswith("slowfast_core")}
               for m in graph.modules}
    assert len(modules) > 100  # the package was read
    assert cycles(modules) == []
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in modules.items():
        for target in targets:
            a, b = _package(source), _package(target)
            if a != b and "slowfast_core" not in (a, b):  # the package's own __init__ (its public facade) aside
                packages[a].add(b)
    assert len(packages) > 10
    assert cycles(packages) == []


def _imported_after(*runs: list[str]) -> list[list[str]]:
    """For each `slowfast ARGV` run in turn in one fresh Python: the slowfast_core/app/PySide6 modules imported
    by then."""
    code = ("import json, sys\nfrom slowfast_core.cli import main\nfor argv in json.loads(sys.argv[1]):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "    print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('slowfast_core', 'app', "
            "'PySide6'))))\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(runs)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")][-len(runs):]


def test_a_runtime_command_imports_no_benchmark() -> None:
    """`slowfast weights list` (every command's parser is built) and `slowfast bench --help` import no bench
    module and no Qt; `slowfast bench model --help` then imports that bench, not the others."""
    listed, bench_help, model_help = _imported_after(["weights", "list"], ["bench", "--help"],
                                                     ["bench", "model", "--help"])
    for loaded in (listed, bench_help):
        assert "slowfast_core.commands.bench" in loaded  # the parsers were built
        assert [m for m in loaded if m.startswith(("slowfast_core.bench", "app", "PySide6"))] == []
    assert "slowfast_core.bench.model" in model_help
    assert not {"slowfast_core.bench.soak", "slowfast_core.bench.teach", "slowfast_core.bench.pipeline",
                "app.bench"} & set(model_help)


def test_building_the_window_imports_no_torchvision(tmp_path: Path) -> None:
    """The window's start-up path (its Model menu lists the detection models) must not import torchvision:
    `torchvision.models` pulls in torch._dynamo, 2.2 s of a 2-core laptop's start (it did, through the person
    detectors' URLs)."""
    code = ("import os, sys, pathlib\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
            "from app.settings import AppSettings, SettingsStore\nfrom app.window import MainWindow\n"
            "tmp = pathlib.Path(sys.argv[1])\n"
            "w = MainWindow(store=SettingsStore(path=tmp / 's.ini'), settings=AppSettings(), sessions_root=tmp / 's',"
            " start_source='synthetic:160x120@15', cameras=[], repair_on_start=False)\n"
            "print('torchvision' in sys.modules, 'torch._dynamo' in sys.modules)\nw.shutdown()\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "SLOWFAST_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["False", "False"]
