"""Shared test set-up: headless Qt, the fixtures of tests/helpers/fixtures.py (real clips, the loopback-only
network guard, a local HTTP server, a fixed-weights checkpoint), the same guard in every child process (a test
whose child tried to reach another host fails), and the guard that fails a test which leaves threads running.
Shared fakes, collectors and writers live in tests/helpers/."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# OpenMP threads that wait at a barrier sleep instead of spinning. Set before torch is first imported (child
# processes inherit it). On the 2-core CI machine with another process keeping one core busy, spinning threads
# take the working thread's share of that core: the same tests took 217 s spinning and 148 s sleeping (-32%);
# on a quiet machine 127 s and 134 s (+5%). The program itself keeps OpenMP's default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _hermetic_user_folders() -> Path:
    """Point every per-user folder the program writes (compiled-model cache, sessions, taught models, settings,
    torch's hub) at one private folder for this test process, removed at exit.

    Tests then never read or change the person's real data, a run starts cold the way CI does, and two test
    processes (pytest-xdist workers) never share a cache entry. Child processes inherit the environment.
    """
    import atexit
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="slowfast-tests-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "TORCH_HOME"):
        os.environ[name] = str(home / name.lower())
    for name in ("SLOWFAST_CACHE_DIR", "SLOWFAST_SESSIONS", "SLOWFAST_DATA_DIR", "SLOWFAST_MODELS"):
        os.environ.pop(name, None)  # the defaults under the XDG folders above
    return home


USER_FOLDERS = _hermetic_user_folders()

from slowfast_core.backends.openvino_import import without_telemetry  # noqa: E402

without_telemetry()  # as the program does: OpenVINO and NNCF send nothing, from this process either


def _guard_child_processes(log: Path) -> Path:
    """Every Python process a test starts runs helpers/child_site/sitecustomize.py first: the loopback guard,
    reporting each refused host to `log` (checked after each test by `no_network_from_children`)."""
    site = Path(__file__).resolve().parent / "helpers" / "child_site"
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    os.environ["SLOWFAST_TEST_NET_LOG"] = str(log)
    log.touch()
    return log


CHILD_NET_LOG = _guard_child_processes(USER_FOLDERS / "refused-network.log")

from helpers.fixtures import (  # noqa: E402,F401 - fixtures are found by their names here
    REAL_VIDEO_DIR,
    REPO_ROOT,
    checkpoint_8x8,
    local_server,
    loopback_only,
    realvideo,
    teach_session,
    tiny_overfit,
    tiny_synth,
)


@pytest.fixture(autouse=True)
def no_network_from_children(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test during which a child process tried to reach beyond 127.0.0.1 (it was refused)."""
    start = CHILD_NET_LOG.stat().st_size
    yield
    with CHILD_NET_LOG.open("rb") as f:
        f.seek(start)
        attempts = f.read().decode("utf-8", "replace").splitlines()
    if attempts:
        shown = "; ".join(sorted({f"{line.split(chr(9))[0]} from {line.split(chr(9))[-1]}" for line in attempts}))
        pytest.fail(f"{request.node.nodeid}: a child process tried to reach {shown} (only 127.0.0.1 in tests)",
                    pytrace=False)


# -- order: the longest files first ---------------------------------------------------------------------------------

#: the test files that take longest (quiet `--durations=0`, most first; each is about 15 s or more). `make test`
#: gives two pytest-xdist workers a whole file at a time in collection order, so these go first: in alphabetical
#: order the heaviest files (train_*) came last and one worker ran them alone for ~1.5 min while the other idled.
LONGEST_FILES_FIRST = (
    "test_run_cli.py", "test_bench_detect.py", "test_backends.py", "test_train_loop.py", "test_app_window.py", "test_bench_model.py",
    "test_stop.py", "test_checkpoint.py", "test_train_ddp.py", "test_teach.py", "test_checkpoint_pyslowfast.py",
    "test_bench_soak.py", "test_predict.py", "test_train_data.py", "test_app_teach.py", "test_quantize.py",
    "test_model.py", "test_engine.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the files of LONGEST_FILES_FIRST first, in that order; the others after, as collected (a stable sort:
    the tests inside a file keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# -- threads: every test stops what it starts ----------------------------------------------------------------------

#: how long a test's leftover threads get to end after it (joined with this timeout, not slept): engine stops are
#: bounded at 2 s, so a thread still alive after this was never asked to stop, or ignores it
THREAD_GRACE_S = 5.0


def _engine_thread_types() -> tuple[type, ...]:
    """The engine's thread classes: capture, scheduler, inference worker, monitor."""
    from slowfast_core.stream.status import Monitor
    from slowfast_core.stream.scheduler import WindowScheduler
    from slowfast_core.stream.worker import InferenceWorker
    from slowfast_core.stream.capture import CaptureThread

    return (CaptureThread, WindowScheduler, InferenceWorker, Monitor)


def _must_end(thread: threading.Thread, engine_types: tuple[type, ...]) -> bool:
    """A thread a test must not leave running: any non-daemon thread, and every engine thread."""
    return not thread.daemon or isinstance(thread, engine_types) or thread.name.startswith("slowfast-")


@pytest.fixture(autouse=True)
def no_thread_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a non-daemon thread or an engine thread running after it ends.

    Threads alive before the test (another scope's fixtures) are not its doing. Leftovers are joined for up
    to THREAD_GRACE_S in all, then named in the failure.
    """
    before = set(threading.enumerate())
    yield
    engine_types = _engine_thread_types()
    exempt = before
    left = [t for t in threading.enumerate()
            if t not in exempt and t is not threading.current_thread() and _must_end(t, engine_types)]
    deadline = time.monotonic() + THREAD_GRACE_S
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in left if t.is_alive()]
    if alive:
        names = ", ".join(f"{t.name} ({type(t).__name__}{', daemon' if t.daemon else ''})" for t in alive)
        pytest.fail(f"{request.node.nodeid} left threads running {THREAD_GRACE_S:.0f} s after it ended: {names}",
                    pytrace=False)
