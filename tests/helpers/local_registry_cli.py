"""Launcher for child processes of the program under test: `python local_registry_cli.py URLS -m MODULE ARGS…`.

Runs `python -m MODULE ARGS…` (e.g. `slowfast_core.cli weights download NAME`) after two changes that keep
the child on this machine: registry entries named in URLS (a JSON object, name -> url) download from those
URLs (a `LocalServer` on 127.0.0.1), and the loopback guard refuses every other host. The window's download
dialog starts the real command this way in tests; nothing else about the child differs.
"""

from __future__ import annotations

import dataclasses
import json
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests folder: `helpers` is importable

from helpers.network import install_loopback_guard  # noqa: E402


def main() -> None:
    urls = json.loads(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit("usage: local_registry_cli.py URLS -m MODULE [ARGS...]")
    module, args = sys.argv[3], sys.argv[4:]
    install_loopback_guard(setattr)
    from slowfast_core.weights.registry import REGISTRY

    for name, url in urls.items():
        REGISTRY[name] = dataclasses.replace(REGISTRY[name], url=url)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
