# `make train` and `make test` on a fresh clone: build .venv from requirements.txt if missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test clean-venv

$(STAMP): requirements.txt setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

train: $(STAMP)
	$(PY) -m jaxgan.main --config=experiments/ctgan.py --workdir=runs/ctgan

# Each test file runs in its own process (XLA's compiler has crashed in one long process; see
# tests/conftest.py), as many at a time as there are CPUs: tests/run_files.py.
test: $(STAMP)
	$(PY) tests/run_files.py

clean-venv:
	rm -rf $(VENV)
