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

# Each test file runs in its own process: in one long process, XLA's compiler has crashed
# (segmentation fault) in tests/test_train.py after the other files ran; see tests/conftest.py.
test: $(STAMP)
	@set -e; for f in tests/test_*.py; do echo "== $$f"; $(PY) -m pytest -q -p no:cacheprovider $$f; done

clean-venv:
	rm -rf $(VENV)
