# The two commands: `make run` and `make test`. Both create .venv, install what they need
# and are fast the second time (stamps skip pip when pyproject.toml has not changed).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CLI := $(BIN)/rlm-desktop
# llama.cpp builds with both cores; pip caches the built wheel afterwards.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
# llama.cpp is built for this CPU (-march=native). Its AMX kernels die with SIGILL at the
# first `tileloadd` on machines whose CPU lists AMX but whose kernel does not give the tile
# state to every compute thread (seen on these 2-core VMs with n_threads=2); without them
# llama.cpp uses its AVX-512 or AVX2 kernels. Only x86_64 compilers know these flags.
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
export CFLAGS += $(NO_AMX)
export CXXFLAGS += $(NO_AMX)
# pip's wheel cache does not key on CFLAGS: a llama.cpp wheel built with AMX before would be
# taken again (a fresh clone on this machine did, and died with SIGILL in the model tests).
# The build without AMX gets a cache of its own.
LLAMA_PIP := --cache-dir "$${XDG_CACHE_HOME:-$$HOME/.cache}/rlm-desktop/pip-llama-no-amx"
endif
LLAMA_NOTE = $(PY) -c "import llama_cpp" 2>/dev/null || echo "rlm-desktop: building llama.cpp from source (llama-cpp-python) once: about 10 minutes on 2 cores, then cached. For a GPU build see docs/inference.md."

ROOT_MODEL := qwen2.5-coder-1.5b-instruct-q4_k_m
SUB_MODEL := qwen2.5-coder-0.5b-instruct-q4_k_m

.PHONY: run test test-fast lint models models-test x-test-deps screenshots bench package clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# llama-cpp-python first, alone, so that its build uses the flags and the cache above; the
# version range is pyproject.toml's
$(VENV)/.llama: | $(PY)
	@$(LLAMA_NOTE)
	$(PY) -m pip install --disable-pip-version-check $(LLAMA_PIP) 'llama-cpp-python>=0.3.16,<0.4'
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.llama | $(PY)
	$(PY) -m pip install --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.llama | $(PY)
	$(PY) -m pip install --disable-pip-version-check -e '.[dev,bench]'
	touch $@ $(VENV)/.installed

models: $(VENV)/.installed
	$(CLI) models install --if-missing $(SUB_MODEL) $(ROOT_MODEL)

# the real-window tests ask the sample question with the default root model, as a user would
models-test: $(VENV)/.installed-dev
	$(CLI) models install --if-missing $(SUB_MODEL) $(ROOT_MODEL)

# docs/screenshots/*.png from the real app on Xvfb with the default models (a few minutes)
screenshots: $(VENV)/.installed-dev models x-test-deps
	$(PY) -m rlm_desktop.bench.screenshots docs/screenshots

# Xvfb, Qt's X11 libraries and a font for the real-window tests (Debian/Ubuntu; as root or
# with sudo -n; otherwise it prints the command and those tests skip)
x-test-deps:
	@sh packaging/linux/x-test-deps.sh

run: $(VENV)/.installed models
	$(CLI) gui --fallback-sample

test: $(VENV)/.installed-dev models-test x-test-deps
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test-fast: $(VENV)/.installed-dev
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not model"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check rlm_desktop tests

package: $(VENV)/.installed
	$(PY) -m pip install --disable-pip-version-check -e '.[package]'
	$(BIN)/pyinstaller --noconfirm --distpath dist --workpath build packaging/rlm-desktop.spec

clean:
	rm -rf build dist .pytest_cache
