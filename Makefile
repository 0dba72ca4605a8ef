# mlflow-provision: every check behind one command (`make test`). Each target can run alone and
# is safe to repeat.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
UV_VERSION := 0.13.9
SSLYZE_VERSION := 6.3.1
SSLYZE := .cache/sslyze/bin/sslyze
HOST_VENV := .cache/host-venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# Scenarios: every molecule/<name>/molecule.yml; `make molecule S=base` runs one.
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
S ?= $(SCENARIOS)
DEV_COLLECTION := .cache/collections/ansible_collections/mlflow_provision/tracking

.PHONY: help setup lint unit collection engine images molecule test demo demo-cluster bench bench-cluster clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# The clone is also the collection mlflow_provision.tracking: a link in the collections path of
# ansible.cfg lets playbooks run by path resolve its FQCNs (modules, action plugins, roles).
# Renewed on every run, so that a moved clone never keeps a dangling link.
setup: $(VENV)/.installed $(SSLYZE) $(HOST_VENV)/.installed ## Create .venv with the pinned toolchain (fast when done)
	@mkdir -p $(dir $(DEV_COLLECTION))
	@ln -sfn $(CURDIR) $(DEV_COLLECTION)

# sslyze (the nginx_tls scenario's TLS profile check) in a venv of its own: it pins an older
# cryptography than the toolchain's.
$(SSLYZE): $(VENV)/.installed
	$(BIN)/uv venv -q --allow-existing --python $(BIN)/python $(CURDIR)/.cache/sslyze
	$(BIN)/uv pip install -q --python $(CURDIR)/.cache/sslyze/bin/python sslyze==$(SSLYZE_VERSION)
	touch $@

# The venv the host helpers' unit tests run `mlflow-host` with: the MLflow and drivers role
# mlflow_server installs on hosts (its defaults); rebuilt when they change.
$(HOST_VENV)/.installed: $(VENV)/.installed roles/mlflow_server/defaults/main.yml scripts/host_requirements.py
	$(BIN)/uv venv -q --allow-existing --python $(BIN)/python $(CURDIR)/$(HOST_VENV)
	$(BIN)/python scripts/host_requirements.py >$(HOST_VENV)/requirements.txt
	$(BIN)/uv pip install -q --python $(CURDIR)/$(HOST_VENV)/bin/python -r $(HOST_VENV)/requirements.txt
	touch $@

# Re-installs only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	touch $@

lint: setup ## ansible-lint (production profile), yamllint, ruff
	yamllint --strict .
	ansible-lint
	ruff check .
	ruff format --check .

unit: setup ## Unit tests under tests/ (two processes; a file's tests stay in one)
	pytest -n 2 --dist loadfile tests

collection: setup ## Build the collection tarball, install it apart and run its playbooks by FQCN
	scripts/collection-check.sh

engine: ## Make sure a Docker engine answers (installs/starts one when root)
	scripts/ensure-docker.sh

images: engine ## Build the Debian 12 systemd test image when missing
	scripts/build-test-image.sh

molecule: setup images ## Every molecule scenario (two at a time), or S=<name>; MOLECULE_JOBS=1 for one lane
	scripts/molecule-all.sh $(S)

test: lint unit collection molecule ## The README's test command: lint + unit + collection + molecule

demo: setup images ## The full stack in a local systemd container, then a smoke test with the MLflow client
	scripts/demo.sh

demo-cluster: setup images ## Two MLflow hosts behind HAProxy (PostgreSQL TLS, Azurite) in local containers, then the MLflow client
	scripts/demo-cluster.sh

bench: setup images ## Our stack against the plain `mlflow server`, side by side (about 11 min; container mlflow-bench)
	cd benchmarks && $(BIN)/python bench.py $(BENCH_ARGS)

bench-cluster: setup images ## Two hosts behind HAProxy against one host; upgrade window, restart under load (about 11 min)
	cd benchmarks && $(BIN)/python bench_cluster.py $(BENCH_ARGS)

clean: ## Remove the venv and caches (images, containers and the test hosts' uv cache volume stay)
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
