# Faithful QA: `make run` sets everything up and opens the dashboard; `make test` runs the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# llama.cpp's default build targets the build machine's newest CPU features and crashed here; build portably.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
export RAGAS_DO_NOT_TRACK := true

.PHONY: run test setup models ingest-sample llm llm-stop dashboard browser bench clean

run: setup ingest-sample llm dashboard

setup: $(VENV)/.installed models

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -r requirements.txt
	touch $@

models: $(VENV)/.installed
	$(PY) -m ops.models

ingest-sample: setup
	$(PY) -m ingest samples/kb --collection sample

llm: setup
	$(PY) -m ops.llm_server start

llm-stop:
	$(PY) -m ops.llm_server stop

dashboard:
	@echo "Faithful QA dashboard: http://localhost:$(PORT)  (Ctrl+C to stop; the LLM server keeps running, 'make llm-stop' ends it)"
	$(PY) -m streamlit run app.py --server.headless true --server.port $(PORT) --browser.gatherUsageStats false

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
