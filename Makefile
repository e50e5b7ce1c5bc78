# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# pytest-xdist workers for `make test`, each a whole file at a time (its module fixtures are built once). Two fill
# the 2-core CI machine: the tests wait on paced sources and child processes, and a second worker uses that time.
TEST_WORKERS ?= 2

.PHONY: run test mutate venv screenshot clean

# (Re)install only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# --max-worker-restart=0: a worker that dies (a crash in native code, a kill) fails the run at once, naming its
# test. With a replacement worker, --dist loadfile can wait forever for work that never comes (pytest-xdist #784):
# seen once here, a fresh-clone run under load 7 that hung at 99% after "[gw0] node down: Not properly terminated".
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --max-worker-restart=0

# Mutation testing of the pure core modules (tools/mutate.py: mutmut, one module at a time, niced, only the fast unit
# tests that cover each). Not part of `make test` or CI: it takes minutes per module. Scores: build/mutate/scores.md.
# MODULES="records guard" picks some.
mutate: $(STAMP)
	$(PY) tools/mutate.py $(MODULES)

run: $(STAMP)
	$(VENV)/bin/slowfast-app

# The real window under Xvfb on a real clip, saved as PNGs in build/screenshots/ (1280x800 and 800x600;
# people.png: View -> Detection on the multi-actor scripted scene).
screenshot: $(STAMP)
	$(PY) tools/screenshot.py

clean:
	rm -rf $(VENV) build *.egg-info
