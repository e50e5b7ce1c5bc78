"""The background builds of the move to the fastest backend: a new model's plan cancels the builds in progress,
never the backend already handed to the worker (only a stop does). It did: a model switch right after the move to
OpenVINO (Auto's first size change) set the running backend's cancel event, the window in flight raised
Cancelled, and the worker ended with the view frozen."""

from __future__ import annotations

import threading

from slowfast_core.stream.upgrade import Builds


def build_thread(release: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=release.wait, args=(30,), name="test-build")
    thread.start()
    return thread


def test_a_new_plan_cancels_builds_in_progress_but_not_a_handed_over_backend() -> None:
    builds = Builds()
    release = threading.Event()
    done_event, running_event = threading.Event(), threading.Event()
    done = build_thread(release)
    builds.add(done, done_event)
    assert builds.hand_over(done_event)  # built and given to the worker: its backend runs now
    running = build_thread(release)
    builds.add(running, running_event)  # a later build, still converting
    builds.cancel_building()  # a new model's plan
    assert running_event.is_set() and not done_event.is_set()
    assert not builds.hand_over(running_event)  # cancelled first: never handed over
    builds.cancel_all()  # stopping: the running backend's inference is abandoned too
    assert done_event.is_set()
    release.set()
    for t in builds.threads():
        t.join(10)
    builds.forget()
    assert builds.threads() == []


def test_a_handed_over_build_whose_thread_ended_is_still_stopped_by_a_stop() -> None:
    builds = Builds()
    release = threading.Event()
    release.set()
    cancel = threading.Event()
    thread = build_thread(release)
    builds.add(thread, cancel)
    assert builds.hand_over(cancel)
    thread.join(10)
    builds.add(build_thread(release), threading.Event())  # pruning ended builds keeps the handed-over one
    builds.cancel_building()
    assert not cancel.is_set()
    builds.cancel_all()
    assert cancel.is_set()
