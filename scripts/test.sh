#!/usr/bin/env bash
# Set up (or refresh) .venv with the test tools and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
# The browser test drives Debian's headless Chromium (it skips when absent).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ]; then
    echo "[test] apt-get install chromium (for tests/web/test_browser.py)"
    (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq \
        && apt-get install -y -qq chromium >/dev/null) \
        || echo "[test] chromium could not be installed; the browser test will skip"
fi
echo "[test] ruff"
.venv/bin/python -m ruff check src tests benchmarks scripts
echo "[test] pytest"
.venv/bin/python -m pytest -q "$@"
