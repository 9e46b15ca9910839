# Faithful QA: `make run` sets everything up and opens the dashboard; `make test` runs the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# The dashboard's listening address; empty = FQA_SERVER_ADDRESS or its default 127.0.0.1 (no login: keep it on loopback
# unless something in front of it authenticates). `make run ADDRESS=0.0.0.0` serves every interface.
ADDRESS ?=
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
export RAGAS_DO_NOT_TRACK := true

.PHONY: run test setup models llama-server build-tools ingest-sample llm llm-stop dashboard browser bench clean

run: setup ingest-sample llm dashboard

setup: $(VENV)/.installed models llama-server

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

models: $(VENV)/.installed
	$(PY) -m ops.models

# llama.cpp's llama-server, built once per machine from the pinned, hash-checked source (ops/llama_build.py)
llama-server: $(VENV)/.installed build-tools
	$(PY) -m ops.llama_build

build-tools:
	@command -v cmake >/dev/null && command -v g++ >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq cmake g++ >/dev/null; }

# the bundled sample with the built-in chunking, whatever profile is active (the dashboard ingests a profile's own)
ingest-sample: setup
	FQA_PROFILE=none $(PY) -m ingest samples/kb --collection sample

llm: setup
	$(PY) -m ops.llm_server start

llm-stop:
	$(PY) -m ops.llm_server stop

# ops/dashboard.py: address and upload limit from settings.py, so `make run` and the settings never disagree
dashboard:
	$(if $(ADDRESS),FQA_SERVER_ADDRESS=$(ADDRESS) )$(PY) -m ops.dashboard --port $(PORT)

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

test: setup browser
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/retrieval.py
	$(PY) bench/ingest_memory.py

clean:
	rm -rf data tests/artifacts
