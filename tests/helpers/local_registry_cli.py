"""Launcher for child processes of the program under test: `python local_registry_cli.py URLS -m MODULE ARGS…`.

Runs `python -m MODULE ARGS…` (e.g. `slowfast_core.cli weights download NAME`) with the registry entries (of
the classifier or the detection registry) named in URLS (a JSON object, name -> url) downloading from those
URLS (a `LocalServer` on 127.0.0.1). Like every Python a test starts, the child runs under the loopback guard
(helpers/child_site). The window's download dialog starts the real command this way in tests; nothing else
about the child differs.
"""

from __future__ import annotations

import dataclasses
import json
import runpy
import sys


def main() -> None:
    urls = json.loads(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit("usage: local_registry_cli.py URLS -m MODULE [ARGS...]")
    module, args = sys.argv[3], sys.argv[4:]
    from slowfast_core.weights import detection_registry as detection
    from slowfast_core.weights.registry import REGISTRY

    for name, url in urls.items():
        if name in REGISTRY:
            REGISTRY[name] = dataclasses.replace(REGISTRY[name], url=url)
        else:  # a detection entry (per-person action model, person detector): the same download code
            entries = detection.detection_registry()
            entries[name] = dataclasses.replace(entries[name], url=url)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
