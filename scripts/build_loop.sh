#!/usr/bin/env bash
# Simulate the embedded dataset chunk by chunk and commit each finished chunk.
# Usage: bash scripts/build_loop.sh [max_chunks]
set -uo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
for ((i = 0; i < n; i++)); do
    out=$(.venv/bin/python scripts/build_dataset.py build --max-chunks 1 2>>.cache/build.log) || exit 1
    [ -z "$out" ] && { echo "all chunks built"; exit 0; }
    for try in 1 2 3 4 5; do
        git add src/mspectmol/data/embedded/chunks/ && \
        git commit -q -m "Embedded dataset: chunk $(basename "$out" .parquet)" -- src/mspectmol/data/embedded/chunks/ && break
        sleep 3
    done
    echo "$(date +%T) committed $out"
done
