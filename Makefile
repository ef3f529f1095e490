# The two set-up commands on a fresh machine are `make demo` and `make test`;
# each builds everything it needs itself (virtualenv, pinned deps, cluster tools),
# and no more: the replica demo does not wait for Traefik, which only the
# Gateway API demo (`make demo-gateway`) and tests use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := .cache/bin
export DEPLOYMENTGATE_BIN := $(CURDIR)/$(BIN)
# Go's default install place comes last, for shells that never read a profile.
export PATH := $(CURDIR)/$(BIN):$(PATH):/usr/local/go/bin

.PHONY: venv tools cluster-tools traefik lint test unit demo demo-gateway generate clean

# Two distributions, both editable: the operator (pyproject.toml: operator/,
# all the operator image holds) and devkit/ (local cluster, demo, test
# helpers, reference app, the generators' writer), which `make demo` and
# `make test` need.
$(VENV)/.stamp: requirements.lock pyproject.toml devkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e . -e devkit
	touch $@

venv: $(VENV)/.stamp

# The local cluster's tools, by group (cluster/build.sh): `tools` builds both.
tools:
	cluster/build.sh

# etcd, kube-apiserver, kube-controller-manager, kubectl and helm.
cluster-tools:
	cluster/build.sh cluster

# Traefik and the Gateway API CRDs, for the Gateway API demo and tests only
# (401 s of a cold 17-minute `make demo` when every demo built it).
traefik:
	cluster/build.sh traefik

lint: venv
	$(VENV)/bin/ruff check operator devkit tests bench
	$(VENV)/bin/ruff format --check operator devkit tests bench
	$(VENV)/bin/mypy
	@# Each test folder's conftest.py is a module `conftest` of its own: one run each.
	for c in $$(find tests -mindepth 2 -name conftest.py); do $(VENV)/bin/mypy "$$c" || exit 1; done
	$(VENV)/bin/lint-imports

unit: venv
	$(PY) -m pytest -m "not cluster"

# Two workers, each with its own local cluster (whole files to one worker): the
# cluster tests mostly wait on the operator's timers, so two run in the time of
# one on the 2-core machine.
test: venv tools lint
	$(PY) -m pytest -n 2 --dist loadfile

# The CRDs, the admission policies and the chart's copies of them, and the
# resource reference (docs/reference.md), written from the models
# (deploymentgate.manifests); a test fails when one is stale.
generate: venv
	$(PY) -m deploymentgate_devkit.generate

demo: venv cluster-tools
	$(VENV)/bin/deploymentgate demo

# The same story through a real gateway: Traefik and HTTPRoute weights.
demo-gateway: venv cluster-tools traefik
	$(VENV)/bin/deploymentgate demo --router gatewayAPI

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
