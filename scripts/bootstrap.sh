#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv and install mspectmol.
# Usage: bash scripts/bootstrap.sh [extra]   (extra: "dev" adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MSPECTMOL_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[bootstrap] creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Install the CPU torch wheel first: an unpinned torch would pull a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "[bootstrap] installing torch==2.13.0 (CPU)"
    "$VENV/bin/python" -m pip install -q "torch==2.13.0"
fi
target="."
if [ "${1:-}" = "dev" ]; then target=".[dev]"; fi
echo "[bootstrap] installing mspectmol and its dependencies"
"$VENV/bin/python" -m pip install -q -c constraints.txt -e "$target"
