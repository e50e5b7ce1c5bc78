"""Shared test helpers: the one copy of each fake, collector and writer the tests use.

- `waiting`: `wait_until`, the single poll for conditions that no event announces.
- `network`: the loopback-only guard, a local HTTP server with scripted answers, a refused local URL.
- `events`: `EventLog`, a thread-safe listener for the engine, capture thread and inference worker.
- `models`: `ProbeSlowFast`, a real SlowFast with probes (warm-up vs real calls, a gate, failures).
- `media`: frame packets, predictions, clips written with OpenCV and read back.
- `sessions`: recording real sessions; `crash_recorder.py` is the child process that gets SIGKILLed.
- `local_registry_cli.py`: runs `slowfast ...` in a child with registry URLs on the local server.
- `child_site/sitecustomize.py`: the loopback guard in every Python child a test starts, reporting refusals.
"""
