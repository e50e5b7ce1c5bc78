# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test venv screenshot clean

# (Re)install only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

run: $(STAMP)
	$(VENV)/bin/slowfast-app

# The real window under Xvfb on a real clip, saved as PNGs in build/screenshots/ (1280x800 and 800x600).
screenshot: $(STAMP)
	$(PY) tools/screenshot.py

clean:
	rm -rf $(VENV) build *.egg-info
