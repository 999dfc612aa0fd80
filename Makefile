# The two commands of the README, and a few helpers.  Every target installs what it needs
# into .venv first, and does nothing more when it is already there.
#
#   make run            the workflow, locally, on generated data (ARGS="--rows 50000" ...)
#   make test           ruff check, ruff format --check, mypy on the whole tree, the test suite
#
# Needs Python 3.11 with venv (Debian: python3.11 python3.11-venv) and the package registry.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=
# mypy over the whole tree.  The test directories are checked one at a time, each on its own
# path, as pytest imports them (their helper modules and conftest.py share names across
# directories); lambdas/ is on the path as in a Lambda package (`from common import ...`).
MYPY_TREE ?= localaws workflows lambdas bench notebooks/build_walkthrough.py notebooks/build_movie_walkthrough.py notebooks/build_hotel_clusters.py $(wildcard tests/*.py)
# Script-mode and Glue job code, each directory on its own path (as its container runs it).
MYPY_JOBS ?= $(wildcard jobs/*/)

.PHONY: run test lint typecheck format build serve clean tools

run: $(VENV)/.installed
	$(BIN)/python -m workflows run $(ARGS)

test: $(VENV)/.installed-dev tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	MYPYPATH=lambdas $(BIN)/mypy $(MYPY_TREE)
	for d in tests/*/; do MYPYPATH=$$d $(BIN)/mypy --follow-imports=silent $$d || exit 1; done
	for d in $(MYPY_JOBS); do MYPYPATH=$$d $(BIN)/mypy $$d || exit 1; done

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build: $(VENV)/.installed
	$(BIN)/python -m workflows build $(ARGS)

serve: $(VENV)/.installed
	$(BIN)/python -m workflows serve $(ARGS)

clean:
	rm -rf .local-aws build test-artifacts .pytest_cache .ruff_cache .mypy_cache

# The virtual environment, with the repository on its path (a .pth file) so that
# `python -m workflows` works from any directory.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'sfn-ml-workflows.pth').write_text('$(CURDIR)\n')"
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# What the tests drive besides Python: Debian's Chromium (the console's browser test),
# bubblewrap (SageMaker jobs see their directory at /opt/ml), the npm asl-validator and
# checkov in its own venv (the AWS template checks; checkov's pins clash with ours).  Each
# is installed once, when missing.
tools: build/asl-validator/node_modules/.bin/asl-validator build/checkov-venv/.installed
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }
	@command -v bwrap >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap; }

build/asl-validator/node_modules/.bin/asl-validator:
	npm install --silent --no-audit --no-fund --prefix build/asl-validator asl-validator@3.16.0

build/checkov-venv/.installed: cfn/requirements-checkov.txt
	$(PYTHON) -m venv build/checkov-venv
	build/checkov-venv/bin/pip install --quiet --disable-pip-version-check -r cfn/requirements-checkov.txt
	touch $@
