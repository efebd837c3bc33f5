#!/usr/bin/env bash
# Simulate the embedded dataset chunk by chunk and commit each finished chunk.
# Usage: bash scripts/build_loop.sh [max_chunks] [part] [workers]
#   part: v1 (default, src/mspectmol/data/embedded/chunks) or v2 (.../embedded/v2/chunks)
set -uo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
part="${2:-v1}"
workers="${3:-2}"
dir=src/mspectmol/data/embedded/chunks/
size=200
# the drug-size part takes ~10x longer per molecule: smaller chunks are committed more often
[ "$part" = v2 ] && { dir=src/mspectmol/data/embedded/v2/chunks/; size=50; }
for ((i = 0; i < n; i++)); do
    out=$(.venv/bin/python scripts/build_dataset.py build --part "$part" --workers "$workers" --chunk-size "$size" --max-chunks 1 2>>.cache/build.log) || exit 1
    [ -z "$out" ] && { echo "all chunks built"; exit 0; }
    for try in 1 2 3 4 5; do
        git add "$dir" && \
        git commit -q -m "Embedded dataset ($part): chunk $(basename "$out" .parquet)" -- "$dir" && break
        sleep 3
    done
    echo "$(date +%T) committed $out"
done
