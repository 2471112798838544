# `make train`, `make test` and `make test-fast` on a fresh clone: each builds .venv if missing.
# .venv/.installed: requirements.txt and jaxgan (what training, generation and evaluation need).
# .venv/.installed-test: requirements-test.txt on top (pytest, ctapipe, dl1-data-handler, ...),
# so `make test` after `make train` adds the test packages to the same venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: train test test-fast docs clean-venv

$(STAMP): requirements.txt setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $(TEST_STAMP)

train: $(STAMP)
	$(PY) -m jaxgan.main --config=experiments/ctgan.py --workdir=runs/ctgan

# The full suite: one pytest-xdist worker per CPU, each taking whole test files (most of a file's
# time is single-threaded compilation; docs/design.md, "Running the tests in one process").
test: $(TEST_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n auto --dist=loadfile tests

# The fast tier: the tests marked `fast`, in one process, with tiny shapes; it fails if some
# module under jaxgan/ had none of its functions called (tests/module_calls.py).
test-fast: $(TEST_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -p tests.module_calls -m fast tests

# docs/config.md from the comments in jaxgan/configs.py (tests/test_config_reference.py fails when
# it is stale).
docs: $(STAMP)
	$(PY) -m jaxgan.config_reference > docs/config.md

clean-venv:
	rm -rf $(VENV)
