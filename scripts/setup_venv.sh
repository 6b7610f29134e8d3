#!/usr/bin/env bash
# The project's virtual environment: torch pinned first (CPU wheel here, or
# TORCH_INDEX for a CUDA build), then the exact lock, then the project
# editable without dependency resolution (so nothing can upgrade torch).
set -euo pipefail
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  if [ -n "${TORCH_INDEX:-}" ]; then
    "${PIP[@]}" install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX"
  else
    "${PIP[@]}" install "torch==$TORCH_VERSION"
  fi
fi
"${PIP[@]}" install -r requirements/lock-cpu.txt
"${PIP[@]}" install --no-deps --no-build-isolation -e .
"$VENV/bin/python" scripts/robosuite_macros.py
