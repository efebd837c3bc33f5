#!/usr/bin/env bash
# Set up (or refresh) .venv with the test tools and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
echo "[test] ruff"
.venv/bin/python -m ruff check src tests benchmarks scripts
echo "[test] pytest"
.venv/bin/python -m pytest -q "$@"
