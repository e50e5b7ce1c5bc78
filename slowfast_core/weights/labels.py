"""Class names: the Kinetics-400 list (offline, from torchvision) and user label files.

Kinetics-400 ids 0..399 are the class names in alphabetical order; torchvision ships them in its weights
metadata, so no download is needed. Two label-file formats are read:

- PySlowFast's JSON `{"\\"abseiling\\"": 0, ...}`: a mapping name -> id whose keys carry literal quotes
  (stripped here); ids must be exactly 0..N-1. A JSON list of names is accepted as well.
- mmaction2's text format: one name per line, the line number (blank lines skipped) is the id.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from slowfast_core.errors import SlowFastError

KINETICS400_SIZE = 400


class LabelFileError(SlowFastError):
    """A label file is missing, unreadable, or not one of the accepted formats."""


def _kinetics400_from_source() -> tuple[str, ...] | None:
    """The list read from torchvision's `models/_meta.py` as data (ast), without importing torchvision: its
    import pulls in every model and op (seconds on a small machine, on the way to the first prediction)."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec("torchvision")
        if spec is None or spec.origin is None:
            return None
        tree = ast.parse((Path(spec.origin).parent / "models" / "_meta.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, ImportError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_KINETICS400_CATEGORIES"
                                                for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return None
            return tuple(str(x) for x in value) if isinstance(value, list) else None
    return None


@functools.lru_cache(maxsize=1)
def _kinetics400() -> tuple[str, ...]:
    names = _kinetics400_from_source()
    if names is None or len(names) != KINETICS400_SIZE:
        from torchvision.models.video import R3D_18_Weights  # torchvision's public way (heavy to import)

        names = tuple(R3D_18_Weights.KINETICS400_V1.meta["categories"])
    if len(names) != KINETICS400_SIZE:  # pragma: no cover - guards against a changed torchvision
        raise SlowFastError(f"torchvision lists {len(names)} Kinetics-400 classes, expected 400: update torchvision")
    return names


def kinetics400_labels() -> list[str]:
    """The 400 Kinetics-400 class names, index = class id (alphabetical). Offline; a fresh list each call."""
    return list(_kinetics400())


def read_label_file(path: str | os.PathLike[str]) -> list[str]:
    """Class names from a PySlowFast JSON or a one-name-per-line text file, index = class id.

    Raises LabelFileError (one line naming the file) for a missing/unreadable file, bad JSON, ids that are not
    0..N-1, empty or duplicate names, or an empty file.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise LabelFileError(f"label file {path} {what}: pass a .json (PySlowFast) or .txt (one name per line) file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"label file {path} is not UTF-8 text: save it as UTF-8") from exc
    except OSError as exc:
        raise LabelFileError(f"cannot read label file {path}: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        names = _parse_json(text, path)
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise LabelFileError(f"label file {path} has no class names: put one name per line, or a JSON name -> id map")
    _check_unique(names, path)
    return names


def _parse_json(text: str, path: Path) -> list[str]:
    """PySlowFast's `{"\\"name\\"": id}` map (or a plain list of names) -> names ordered by id."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelFileError(
            f"label file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc
    if isinstance(data, list):
        if not all(isinstance(n, str) and n.strip() for n in data):
            raise LabelFileError(f"label file {path}: a JSON list must hold non-empty class-name strings only")
        return [_strip_quotes(n) for n in data]
    if not isinstance(data, dict):
        raise LabelFileError(
            f"label file {path}: expected a JSON object mapping class name -> id, got {type(data).__name__}"
        )
    by_id: dict[int, str] = {}
    for raw_name, class_id in data.items():
        name = _strip_quotes(raw_name)
        if not name:
            raise LabelFileError(
                f"label file {path} has an empty class name (id {class_id!r}): give every class a name"
            )
        if isinstance(class_id, bool) or not isinstance(class_id, int):
            raise LabelFileError(f"label file {path}: id of {name!r} is {class_id!r}, expected an integer")
        if class_id in by_id:
            raise LabelFileError(f"label file {path}: id {class_id} is used by both {by_id[class_id]!r} and {name!r}")
        by_id[class_id] = name
    n = len(by_id)
    if sorted(by_id) != list(range(n)):
        missing = sorted(set(range(n)) - set(by_id))
        bad = sorted(i for i in by_id if not 0 <= i < n)
        raise LabelFileError(
            f"label file {path}: ids must be 0..{n - 1} with none missing "
            f"(missing {missing[:5]}, out of range {bad[:5]})"
        )
    return [by_id[i] for i in range(n)]


def _strip_quotes(name: str) -> str:
    """'"abseiling"' -> 'abseiling' (PySlowFast keeps the CSV quotes in its JSON keys); trims whitespace."""
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    return name


def _check_unique(names: list[str], path: Path) -> None:
    """Two classes with one name would make predictions ambiguous."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise LabelFileError(f"label file {path}: class name {name!r} appears twice (ids {seen[name]} and {i})")
        seen[name] = i


AVA_SIZE = 80


@functools.lru_cache(maxsize=1)
def _ava() -> tuple[str, ...]:
    names = tuple(read_label_file(Path(__file__).with_name("ava_v2.2_labels.txt")))
    if len(names) != AVA_SIZE:  # pragma: no cover - guards the package data file
        raise SlowFastError(f"the AVA v2.2 label map lists {len(names)} actions, expected {AVA_SIZE}")
    return names


def ava_labels() -> list[str]:
    """AVA v2.2's 80 action names (package data), index = AVA action id - 1. Offline; a fresh list each call."""
    return list(_ava())
