# Two commands set everything up: `make serve` and `make test`. Each installs what it needs.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: serve test lint typecheck unit install clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

serve: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m local.stack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy chalicelib

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench-indexing bench-lag
bench-indexing: $(STAMP)  ## AWS calls and bytes per stored-and-indexed instance (in-process moto)
	$(BIN)/python -m bench.indexing_cost 20

bench-lag: $(STAMP)  ## STOW->QIDO visibility lag over 100 instances (starts its own local stack)
	$(BIN)/python -m bench.visibility_lag 100

.PHONY: bench-qido bench-wado
bench-qido: $(STAMP)  ## QIDO requests, items read and latency at 10k and 100k instances (slow)
	$(BIN)/python -m bench.qido_scale 10000 100000

bench-wado: $(STAMP)  ## WADO requests and bytes: instance, study metadata, a frame, transcoding
	$(BIN)/python -m bench.wado_cost

.PHONY: bench-render
bench-render: $(STAMP)  ## CPU time and bytes read: a rendered 512x512 CT frame, a thumbnail
	$(BIN)/python -m bench.render_cost
