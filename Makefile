# hrtem: `make help` lists the targets. Every target that needs the venv depends on `setup`,
# which only reinstalls when a pyproject.toml or requirements-dev.txt changed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PACKAGES := packages/hrtem-core packages/hrtem-sim packages/hrtem-msd packages/hrtem-analysis packages/hrtem-checks apps/hrtem-cli
# What `pip install -e` gets: every package, hrtem-sim with the abTEM/ASE extra that simulating needs.
EDITABLE := $(subst packages/hrtem-sim,packages/hrtem-sim[simulate],$(PACKAGES))
STAMP := $(VENV)/.installed
# No CUDA on this machine: pin the CPU build of torch (an unpinned torch pulls a multi-GB CUDA build).
TORCH_CPU ?= torch==2.13.0
TASK ?= nanoparticle
SPEC ?= data_specs/nanoparticle.yaml
PROFILE ?= small
ARGS ?=

.PHONY: help setup test test-slow gpu-check gpu-prepare lint simulate train pretrained ui clean
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): $(addsuffix /pyproject.toml,$(PACKAGES)) requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q "$(TORCH_CPU)"; fi
	$(PY) -m pip install -q $(addprefix -e ,$(EDITABLE)) -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install every package editable (fast when nothing changed)

# Test workers: each takes whole files (--dist loadfile), so a file's fixtures are built once.
TEST_JOBS ?= 2
test: setup ## run the test suite (CI; 7.5 min on 2 CPU cores with TEST_JOBS=2)
	$(PY) -m pytest -m "not slow and not cuda" -n $(TEST_JOBS) --dist loadfile $(ARGS)

test-slow: setup ## run the heavy tests (full training, big images)
	$(PY) -m pytest -m "slow or cuda" $(ARGS)

gpu-check: setup ## on a GPU node: CUDA tests, bf16 training, DDP, GPU benchmarks; a table last (< 8 min)
	$(PY) scripts/gpu-check $(ARGS)

gpu-prepare: setup ## what gpu-check carries to a bare GPU machine: .gpu-check/ (tiny data, wheels)
	$(PY) scripts/gpu-check --prepare

lint: setup ## ruff check and format check
	$(VENV)/bin/ruff check packages apps tests benchmarks
	$(VENV)/bin/ruff format --check packages apps tests benchmarks

simulate: setup ## simulate a dataset: make simulate SPEC=data_specs/mos2.yaml PROFILE=tiny
	$(VENV)/bin/hrtem simulate $(SPEC) --profile $(PROFILE) $(ARGS)

train: setup ## train on a task with embedded defaults: make train TASK=nanoparticle ARGS="model=unet"
	$(VENV)/bin/hrtem train task=$(TASK) $(ARGS)

pretrained: setup ## the shipped model's longer training: make pretrained TASK=mos2 (after a stop: ARGS=resume=last)
	$(VENV)/bin/hrtem train --preset configs/pretrained/$(TASK).yaml $(ARGS)

UI_PORT ?= 5000
ui: setup ## MLflow UI on 127.0.0.1:UI_PORT for mlflow.db and mlartifacts/ (or MLFLOW_TRACKING_URI)
	@uri="$$($(PY) -c 'from hrtem_msd.store.tracking import tracking_uri; print(tracking_uri())')"; \
	case "$$uri" in http*) echo "MLflow tracks to the server $$uri: open it in a browser"; exit 0;; esac; \
	echo "MLflow UI for $$uri on http://127.0.0.1:$(UI_PORT) (Ctrl-C stops it)"; \
	exec $(VENV)/bin/mlflow ui --host 127.0.0.1 --port $(UI_PORT) --backend-store-uri "$$uri" \
		--artifacts-destination "$(CURDIR)/mlartifacts"

clean: ## remove the venv and caches (keeps data/ and mlflow.db)
	rm -rf $(VENV) .pytest_cache .ruff_cache
