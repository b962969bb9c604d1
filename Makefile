# Two commands do all the set-up on a fresh machine: `make synth` and `make test`.
# Each installs what it needs (Python deps from uv.lock into .venv, the CDK CLI from package-lock.json).

ENV ?= dev
UV_VERSION := 0.13.9
PYTHON ?= python3

UV := .tools/uv/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
CHECKOV_ENV := .tools/checkov
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
# Bytecode is cached, whatever the shell says (this machine sets PYTHONDONTWRITEBYTECODE): the venv's
# packages are compiled once at install (UV_COMPILE_BYTECODE below), or every process importing aws-cdk-lib
# recompiles its 270 MB of generated Python (~3 s each); and pytest keeps its rewritten test modules, or
# it rewrites all of them in every worker on every run (~4 s). __pycache__ is git-ignored, and the Lambda
# asset (functions/) excludes it, so no template changes with it.
unexport PYTHONDONTWRITEBYTECODE

# ENV becomes a stack name, a directory and a shell argument: refuse anything but a plain name before any
# recipe runs (make's own functions, no shell involved). Other values reach recipes single-quoted.
ENV_CHARACTERS := a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 -
without = $(if $(2),$(call without,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,$(words $(2)),$(2))),$(1))
ifneq ($(words $(ENV)),1)
$(error ENV='$(ENV)' is not an environment name: use lower-case letters, digits and hyphens, e.g. make synth ENV=dev)
endif
ifneq ($(call without,$(ENV),$(ENV_CHARACTERS)),)
$(error ENV='$(ENV)' is not an environment name: use lower-case letters, digits and hyphens, e.g. make synth ENV=dev)
endif
quote = '$(subst ','\'',$(1))'

.DEFAULT_GOAL := help
.PHONY: help install synth test lint snapshot-update docs bench diff secrets deploy kubeconfig status destroy plan load-weights preflight smoke bench-endpoint clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	UV_COMPILE_BYTECODE=1 $(UV) sync --frozen --quiet
	@touch $@

# checkov pins an older boto3 than the app, so it gets its own locked environment (tools/checkov/uv.lock).
$(CHECKOV_ENV)/.installed: $(UV) tools/checkov/pyproject.toml tools/checkov/uv.lock
	UV_COMPILE_BYTECODE=1 UV_PROJECT_ENVIRONMENT="$(CURDIR)/$(CHECKOV_ENV)" $(UV) sync --frozen --quiet --project tools/checkov
	@touch $@

# promtool from Debian's prometheus package (bookworm's 2.42, the release Debian maintains), unpacked, not installed.
PROMETHEUS_DEB := 2.42.0+ds-5+deb12u1
PROMTOOL := .tools/prom/usr/bin/promtool
$(PROMTOOL):
	@mkdir -p .tools/prom-deb
	cd .tools/prom-deb && { apt-get download "prometheus=$(PROMETHEUS_DEB)" 2>/dev/null || { apt-get update -qq && apt-get download "prometheus=$(PROMETHEUS_DEB)"; }; }
	dpkg-deb -x .tools/prom-deb/prometheus_*.deb .tools/prom
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed ## Install Python deps (uv.lock) and the pinned CDK CLI

# make synth writes into a staging directory and swaps it in whole: a refused or interrupted run leaves
# cdk.out/ as the last complete synth made it (the app swaps dist/ENV/ in whole the same way). The app runs
# the offline checks of scripts/check.py itself, before it builds anything, so synth does not run them twice.
SYNTH_STAGING := .tools/cdk.out.staging

synth: install ## Synthesize ENV (default dev) into cdk.out/ and dist/ENV/, each swapped in whole
	@rm -rf "$(SYNTH_STAGING)" cdk.out.previous
	@$(CDK) synth --quiet -c env="$(ENV)" -o "$(SYNTH_STAGING)" || { rm -rf "$(SYNTH_STAGING)"; exit 1; }
	@if [ -d cdk.out ]; then mv cdk.out cdk.out.previous; fi; mv "$(SYNTH_STAGING)" cdk.out; rm -rf cdk.out.previous

test: install $(CHECKOV_ENV)/.installed $(PROMTOOL) ## Run every check: lint, types, config, snapshots, assertions, cfn-lint, cdk-nag, checkov, promtool
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -n 2 --dist loadfile

lint: install ## Lint, format-check and type-check the Python code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

snapshot-update: install ## Rewrite the syrupy snapshots after a deliberate change (review the diff!)
	$(PY) -m pytest --snapshot-update tests

docs: install ## Regenerate the config reference in README.md from the pydantic model
	$(PY) -m config reference --write README.md

bench: install ## Synth time against a bare baseline (paired runs) and make test from a fresh clone and warm; prints targets
	$(PY) scripts/bench.py --runs 5 --env "$(ENV)"

diff: install ## Show what `make deploy ENV=...` would change (needs AWS credentials)
	@$(PY) -m scripts.check "$(ENV)" --deploy
	$(CDK) diff --all -c env="$(ENV)"

secrets: install ## Create ENV's secrets and weights bucket (a minute) and set the secrets only you can give: HF token, Docker Hub (needs AWS credentials)
	@$(PY) -m scripts.check "$(ENV)" --deploy
	$(CDK) deploy --exclusively --require-approval never -c env="$(ENV)" $$($(PY) -m scripts.check "$(ENV)" --secret-stacks)
	$(PY) -m scripts.set_secrets --env "$(ENV)"

deploy: install ## Deploy every stack of ENV; stops first if a secret is unset, a streamed model is not copied, or nobody would get kubectl access
	@$(PY) -m scripts.check "$(ENV)" --deploy --secrets
	$(CDK) deploy --all -c env="$(ENV)"

kubeconfig: install ## Point kubectl at ENV's cluster (context vllm-ENV); TUNNEL=1 reaches a private endpoint through SSM
	$(PY) -m scripts.kubeconfig --env "$(ENV)" $(if $(TUNNEL),--tunnel)

status: install ## Where the first token stands: GPU nodes, device plugin, each model's pods; WAIT=1 [TIMEOUT=s] waits for Ready
	$(PY) -m scripts.status --env "$(ENV)" $(if $(WAIT),--wait) $(if $(TIMEOUT),--timeout $(call quote,$(TIMEOUT)))

destroy: install ## Delete the stacks of ENV, not the registry other environments share (needs AWS credentials)
	@$(PY) -m scripts.check "$(ENV)"
	$(CDK) destroy "vllm-$(ENV)-*" -c env="$(ENV)"

plan: install ## Capacity and cost plan for ENV: KV cache, concurrency, tokens/s, $ per million tokens
	@$(PY) -m scripts.plan --env "$(ENV)"

load-weights: install ## Copy MODEL's pinned commit from the Hub into ENV's weights bucket, resumable (needs AWS credentials)
	$(PY) -m scripts.load_weights --env "$(ENV)" --model $(call quote,$(MODEL))

preflight: install ## Check GPU quotas, AZ offerings and the EKS version for ENV (needs AWS credentials)
	$(PY) -m scripts.preflight --env "$(ENV)"

smoke: install ## Smoke-test a deployed endpoint: make smoke URL=https://... ENV=dev (reads the api key from AWS)
	$(PY) -m scripts.smoke_test --url $(call quote,$(URL)) --env "$(ENV)"

bench-endpoint: install ## Run vLLM's benchmark client in ENV's cluster against MODEL (a Job on the system nodes) and print measured next to predicted
	$(PY) -m scripts.bench_endpoint --env "$(ENV)" $(if $(MODEL),--model $(call quote,$(MODEL)))

clean: ## Remove build output and installed tools
	rm -rf cdk.out dist .venv .tools node_modules .pytest_cache .ruff_cache
