# The two set-up commands on a fresh machine are `make demo` and `make test`;
# each builds everything it needs itself (virtualenv, pinned deps, cluster tools).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := .cache/bin
export DEPLOYMENTGATE_BIN := $(CURDIR)/$(BIN)
# Go's default install place comes last, for shells that never read a profile.
export PATH := $(CURDIR)/$(BIN):$(PATH):/usr/local/go/bin

.PHONY: venv tools lint test unit demo clean

# Two distributions, both editable: the operator (pyproject.toml, all the
# operator image holds) and devkit/ (local cluster, demo, test helpers,
# reference app), which `make demo` and `make test` need.
$(VENV)/.stamp: requirements.lock pyproject.toml devkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e . -e devkit
	touch $@

venv: $(VENV)/.stamp

tools:
	cluster/build.sh

lint: venv
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: venv
	$(PY) -m pytest -m "not cluster"

test: venv tools lint
	$(PY) -m pytest

demo: venv tools
	$(VENV)/bin/deploymentgate demo

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache

# Generated docs: the resource reference (docs/reference.md) from the models.
# tests/docs/test_reference.py fails when the committed page is stale.
.PHONY: docs
docs: venv
	$(PY) -m deploymentgate.manifests.reference
