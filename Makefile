# Two commands set everything up: `make serve` and `make test`. Each installs what it needs.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-receiver.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: serve test lint typecheck unit install clean infra-check infra-tools deploy destroy

$(STAMP): requirements.txt requirements-receiver.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# the local stack's own extras (local/requirements.txt: never in the Lambda package)
LOCAL_STAMP := $(VENV)/.local-$(shell cksum < local/requirements.txt | cut -d' ' -f1)

$(LOCAL_STAMP): $(STAMP) local/requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r local/requirements.txt
	rm -f $(VENV)/.local-*
	touch $@

serve: $(LOCAL_STAMP)
	PORT=$(PORT) $(BIN)/python -m local.stack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy chalicelib infra dicomweb_cli receiver local/front.py

test: lint typecheck infra-check
	$(BIN)/python -m pytest -n 2 --ignore=tests/infra --ignore=tests/browser $(PYTEST_ARGS)

# --- the deployable stack (infra/README.md) ---------------------------------------------------
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed-$(shell cksum < infra/requirements-scan.txt | cut -d' ' -f1)
INFRA_OUT := build/infra
STAGE ?= prod
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)

$(INFRA_STAMP): infra/requirements-scan.txt
	test -x $(INFRA_VENV)/bin/python || $(PY) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-scan.txt
	rm -f $(INFRA_VENV)/.installed-*
	touch $@

infra-tools: $(INFRA_STAMP)

infra-check: $(STAMP) $(INFRA_STAMP)  ## build the template offline, lint it, scan it, test it against the code
	$(BIN)/python -m infra.build --stage $(STAGE) --out $(INFRA_OUT)
	$(INFRA_VENV)/bin/cfn-lint $(INFRA_OUT)/sam.json
	$(INFRA_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		-f $(INFRA_OUT)/sam.json
	$(BIN)/python -m pytest tests/infra

deploy: $(STAMP)  ## STAGE=prod REGION=eu-west-1 [ALARM_EMAIL=..] [STOW_RECEIVER=Disabled] [PUBLIC_ROOT=https://.. CERTIFICATE_ARN=..]: build and deploy
	$(BIN)/python -m infra.deploy deploy --stage $(STAGE) --region $(REGION) $(if $(ALARM_EMAIL),--alarm-email $(ALARM_EMAIL)) \
		--stow-receiver $(or $(STOW_RECEIVER),Enabled) $(if $(PUBLIC_ROOT),--public-root $(PUBLIC_ROOT)) \
		$(if $(CERTIFICATE_ARN),--certificate-arn $(CERTIFICATE_ARN)) $(if $(RECEIVER_ZONE_IDS),--receiver-zone-ids $(RECEIVER_ZONE_IDS))

destroy: $(STAMP)  ## STAGE=prod REGION=..: delete the stack; the bucket and tables are retained
	$(BIN)/python -m infra.deploy destroy --stage $(STAGE) --region $(REGION)

clean:
	rm -rf $(VENV) $(INFRA_VENV) build .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench-indexing bench-lag
bench-indexing: $(STAMP)  ## AWS calls and bytes per stored-and-indexed instance (in-process moto)
	$(BIN)/python -m bench.indexing_cost 20

bench-lag: $(STAMP)  ## STOW->QIDO visibility lag over 100 instances (starts its own local stack)
	$(BIN)/python -m bench.visibility_lag 100

.PHONY: bench-qido bench-wado
bench-qido: $(STAMP)  ## QIDO requests, items read, read units and latency at 1k, 10k and 100k instances (slow: about an hour): docs/benchmarks/qido-scale.md
	$(BIN)/python -m bench.qido_scale 1000 10000 100000

bench-wado: $(STAMP)  ## WADO requests and bytes: instance, study metadata, a frame, transcoding
	$(BIN)/python -m bench.wado_cost

.PHONY: bench-render
bench-render: $(STAMP)  ## CPU time and bytes read: a rendered 512x512 CT frame, a thumbnail
	$(BIN)/python -m bench.render_cost

.PHONY: bench-stow
bench-stow: $(STAMP)  ## STOW wall time and AWS calls per instance (1 and 20 a request), in-process moto
	$(BIN)/python -m bench.stow_latency

.PHONY: bench-large-stow
bench-large-stow: $(STAMP)  ## one chunked STOW of 200 and 2,000 CT (100 MB, 1 GB) to its own local stack: QIDO at once, peak RSS
	$(BIN)/python -m bench.large_stow --instances $(or $(INSTANCES),200 2000) --json build/large_stow.json

.PHONY: bench-stow-timeout
bench-stow-timeout: $(STAMP)  ## one-study STOW through the receiver with AWS latency and 20% transaction conflicts: tail after the last byte
	$(BIN)/python -m bench.stow_timeout 200 800

.PHONY: bench-coldstart bench-cost bench-rebuild
bench-coldstart: $(STAMP)  ## import time of each function from its built package; STOW peak RSS at 6 MB
	$(BIN)/python -m bench.coldstart --instructions --json build/coldstart.json

bench-rebuild: $(STAMP)  ## a series' metadata rebuild by size and read concurrency, S3 GETs held 20 ms
	$(BIN)/python -m bench.metadata_rebuild 500 2000

bench-cost: $(STAMP)  ## AWS calls per operation and list prices -> docs/cost.md
	$(BIN)/python -m bench.cost_model --write docs/cost.md

.PHONY: soak
soak: $(STAMP)  ## 5 minutes of mixed STOW/QIDO/WADO from 6 threads on its own local stack: errors, p95, RSS
	$(BIN)/python -m bench.soak --duration $(or $(DURATION),300) --threads 6 --out artifacts/soak.json

# --- the viewer (OHIF) and the browser test ---------------------------------------------------
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
E2E_STAMP := $(VENV)/.e2e-$(shell cksum < requirements-e2e.txt | cut -d' ' -f1)

$(E2E_STAMP): $(STAMP) requirements-e2e.txt
	command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-e2e.txt
	$(BIN)/python -c "from local.viewer import ensure_ohif; ensure_ohif()"
	touch $@

.PHONY: viewer e2e
viewer: $(E2E_STAMP)  ## the local stack and OHIF on http://127.0.0.1:3000 (another origin)
	$(BIN)/python -m local.viewer --port $(or $(VIEWER_PORT),3000)

e2e: $(E2E_STAMP)  ## OHIF in headless Chromium against the local stack; screenshots in artifacts/
	$(BIN)/python -m pytest -p no:randomly tests/browser

# --- side by side with Orthanc (docs/benchmarks/orthanc.md) ------------------------------------
BENCH_STAMP := $(VENV)/.bench-$(shell cksum < requirements-bench.txt | cut -d' ' -f1)

$(BENCH_STAMP): $(LOCAL_STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	rm -f $(VENV)/.bench-*
	touch $@

.PHONY: bench
bench: $(BENCH_STAMP)  ## this service (local stack) and Orthanc + DICOMweb, same client, alternating: docs/benchmarks/orthanc.{md,json,png}
	dpkg -s orthanc orthanc-dicomweb >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq orthanc orthanc-dicomweb)
	$(BIN)/python -m bench.runner --local-stack --orthanc --concurrency $(or $(CONCURRENCY),1) --out docs/benchmarks

# --- Orthanc as a sender (README, "Orthanc as a sender"); not part of `make test` ----------------
.PHONY: interop
interop: $(STAMP)  ## Orthanc's DICOMweb client pushes to the local stack over HTTP Basic: tests/interop/
	dpkg -s orthanc orthanc-dicomweb >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq orthanc orthanc-dicomweb)
	DICOMWEB_INTEROP=1 $(BIN)/python -m pytest -p no:randomly -s tests/interop
