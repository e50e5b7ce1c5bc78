"""The benchmarks live in slowfast_core.bench and the runtime packages never import them (read from the source
with `ast`, so an import inside a function counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

import slowfast_core

CORE = Path(slowfast_core.__file__).resolve().parent
RUNTIME = ("backends", "stream", "video", "model", "sessions", "weights", "train")


def _package(path: Path) -> str:
    return ".".join(("slowfast_core", *path.relative_to(CORE).parent.parts))


def _imported_modules(source: str, package: str) -> list[str]:
    """Every module `source` (a file of `package`) imports, absolute: relative imports resolved."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


def test_the_runtime_packages_never_import_the_benchmarks() -> None:
    files = [p for pkg in RUNTIME for p in (CORE / pkg).rglob("*.py")]
    assert len(files) > 40  # the packages were found
    offenders = {str(p.relative_to(CORE)): m for p in files
                 for m in _imported_modules(p.read_text(encoding="utf-8"), _package(p))
                 if m == "slowfast_core.bench" or m.startswith("slowfast_core.bench.")}
    assert offenders == {}
    assert not [p for p in files if p.stem in ("bench", "soak")]  # no benchmark left behind in them


def test_the_scanner_sees_relative_and_nested_imports() -> None:
    """The check above would catch a relative import inside a function of slowfast_core.stream."""
    source = "def f():\n    from ..bench import soak\n    import slowfast_core.bench.model\n"
    found = _imported_modules(source, "slowfast_core.stream")
    assert "slowfast_core.bench.soak" in found and "slowfast_core.bench.model" in found
