"""Kinetics-400 class names from torchvision (offline) and the PySlowFast JSON / mmaction2 text label files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slowfast_core.errors import SlowFastError
from slowfast_core.weights.labels import LabelFileError, kinetics400_labels, read_label_file


def test_kinetics400_from_torchvision() -> None:
    names = kinetics400_labels()
    assert len(names) == 400 and len(set(names)) == 400
    assert names == sorted(names)
    assert names[0] == "abseiling" and names[6] == "arm wrestling" and names[-1] == "zumba"
    assert names.index("sharpening knives") == 290  # the id PyTorchVideo's kinetics_classnames.json gives
    names.append("mutated")
    assert len(kinetics400_labels()) == 400  # callers get a copy, the cache stays intact


def test_kinetics400_read_without_importing_torchvision_equals_its_metadata() -> None:
    """The names are read from torchvision's source as data (importing torchvision costs seconds on the way to
    the first prediction); they are exactly what its weights metadata says."""
    from torchvision.models.video import R3D_18_Weights

    from slowfast_core.weights.labels import _kinetics400_from_source

    assert list(_kinetics400_from_source()) == R3D_18_Weights.KINETICS400_V1.meta["categories"]


def test_pyslowfast_json_quotes_stripped_and_ordered_by_id(tmp_path: Path) -> None:
    path = tmp_path / "kinetics_classnames.json"
    # PySlowFast's file: keys keep the CSV quotes, entries are not in id order.
    path.write_text(json.dumps({'"zumba"': 2, '"abseiling"': 0, '"massaging person\'s head"': 1}))
    assert read_label_file(path) == ["abseiling", "massaging person's head", "zumba"]


def test_json_without_quotes_and_json_list(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"b": 1, "a": 0}))
    assert read_label_file(a) == ["a", "b"]
    b = tmp_path / "b.json"
    b.write_text(json.dumps(["wave", "clap"]))
    assert read_label_file(b) == ["wave", "clap"]


def test_full_kinetics_json_roundtrip(tmp_path: Path) -> None:
    names = kinetics400_labels()
    path = tmp_path / "k400.json"
    path.write_text(json.dumps({f'"{n}"': i for i, n in reversed(list(enumerate(names)))}))
    assert read_label_file(path) == names


def test_text_one_name_per_line(tmp_path: Path) -> None:
    path = tmp_path / "label_map.txt"
    path.write_text("\ufeffwaving hand\n  clapping  \n\nthumbs up\r\n\n", encoding="utf-8")
    assert read_label_file(path) == ["waving hand", "clapping", "thumbs up"]


@pytest.mark.parametrize(
    ("file_name", "content", "expected"),
    [
        ("bad.json", '{"a": 0, "b": }', "not valid JSON (line 1"),
        ("gap.json", json.dumps({"a": 0, "b": 2}), "ids must be 0..1"),
        ("neg.json", json.dumps({"a": -1, "b": 0}), "ids must be 0..1"),
        ("dupid.json", '{"\\"a\\"": 0, "\\"b\\"": 0}', "id 0 is used by both 'a' and 'b'"),
        ("strid.json", json.dumps({"a": "0"}), "expected an integer"),
        ("boolid.json", json.dumps({"a": True}), "expected an integer"),
        ("emptyname.json", json.dumps({'""': 0}), "empty class name"),
        ("scalar.json", "42", "expected a JSON object"),
        ("list.json", json.dumps(["a", 3]), "non-empty class-name strings"),
        ("dup.txt", "run\nwalk\nrun\n", "'run' appears twice (ids 0 and 2)"),
        ("dupjson.json", json.dumps({'"a"': 0, "a": 1}), "'a' appears twice"),
        ("empty.txt", "\n  \n", "has no class names"),
        ("empty.json", "{}", "has no class names"),
    ],
)
def test_bad_label_files(tmp_path: Path, file_name: str, content: str, expected: str) -> None:
    path = tmp_path / file_name
    path.write_text(content)
    with pytest.raises(LabelFileError) as exc:
        read_label_file(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg and expected in msg


def test_missing_folder_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match="does not exist"):
        read_label_file(tmp_path / "nope.txt")
    with pytest.raises(LabelFileError, match="is a folder"):
        read_label_file(tmp_path)
    binary = tmp_path / "labels.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(LabelFileError, match="not UTF-8"):
        read_label_file(binary)
    assert issubclass(LabelFileError, SlowFastError)
