# Two commands on a fresh machine: `make run` (set-up + the default pipeline), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test setup browser lint format bench tables gpu-check

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

PROFILE ?=

run: setup
ifneq ($(PROFILE),)
	python -m labelnoise.profiles $(PROFILE)
endif
	dvc repro
	python -m labelnoise.label_issues
	@echo
	@echo "Results: metrics/ (JSON), plots/ (dvc plots show), report/index.html"

# The report test drives Debian's Chromium headless; without it that one test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium could not be installed: the report's browser test will be skipped"

# One pytest worker per core; a test file stays on one worker (tests/conftest.py).
test: setup browser
	python -m pytest -n auto

# The README's result tables from metrics/ (TABLES=--experiments pools the seed replicates).
tables: setup
	python -m labelnoise.tables $(TABLES)

lint: setup
	ruff format --check .
	ruff check .

format: setup
	ruff format .
	ruff check --fix .

bench: setup
	python bench/generate.py
	python bench/trainer.py
	python bench/tvnet.py
	python bench/importer.py
	python bench/real_data.py
	python bench/folds.py
	python bench/scale.py --n 20000
	python bench/ceiling.py --epochs 60 --former
	python bench/workers.py

# The GPU path in one prepared run (bench/gpu_check.py): figures and checks in GPU_CHECK_OUT.
# It needs torch, numpy, pandas, scikit-learn, scikit-image, Pillow, PyYAML and pytest only, so
# on a bare GPU machine run `python3 bench/gpu_check.py OUT` there without `make setup`.
GPU_CHECK_OUT ?= gpu-check
gpu-check: setup
	python bench/gpu_check.py $(GPU_CHECK_OUT)
