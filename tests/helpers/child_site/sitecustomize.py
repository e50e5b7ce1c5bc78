"""Run at the start of every Python process the tests start (conftest puts this folder first on PYTHONPATH).

It installs the test process's loopback guard (helpers/network.py) in the child too, and appends each refused
host to the file named by SLOWFAST_TEST_NET_LOG, so the test that started the child fails, naming the host and
the child's command (conftest's `no_network_from_children`). A library's background sender (usage telemetry)
fails silently and would otherwise go unnoticed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

NET_LOG = "SLOWFAST_TEST_NET_LOG"


def _install() -> None:
    log = os.environ.get(NET_LOG)
    if not log:
        return
    path = Path(__file__).resolve().parents[1] / "network.py"
    spec = importlib.util.spec_from_file_location("slowfast_tests_network", path)
    if spec is None or spec.loader is None:
        return
    network = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = network  # its dataclasses look their module up there
    spec.loader.exec_module(network)

    def report(host: str) -> None:
        line = f"{host}\t{os.getpid()}\t{' '.join(sys.argv[:4])}\n"
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8", "replace"))  # one write per line: whole lines from many processes
        finally:
            os.close(fd)

    network.install_loopback_guard(setattr, on_refused=report)


_install()
