#!/usr/bin/env bash
# Simulate the embedded dataset chunk by chunk and commit each finished chunk.
# Usage: bash scripts/build_loop.sh [max_chunks] [parts] [workers]
#   parts: v1 (default, src/mspectmol/data/embedded/chunks), v2 (.../embedded/v2/chunks),
#   conformers (v2's conformer-resolved subset, .../embedded/v2/conformers/chunks), or
#   several separated by commas (v2,conformers), built a chunk of each in turn until all
#   are finished.
set -uo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
IFS=, read -r -a parts <<< "${2:-v1}"
workers="${3:-2}"
declare -A dirs=([v1]=src/mspectmol/data/embedded/chunks/
                 [v2]=src/mspectmol/data/embedded/v2/chunks/
                 [conformers]=src/mspectmol/data/embedded/v2/conformers/chunks/)
# the drug-size part takes ~10x longer per molecule: smaller chunks are committed more often
declare -A sizes=([v1]=200 [v2]=50 [conformers]=10)
for ((i = 0; i < n && ${#parts[@]} > 0; i++)); do
    k=$((i % ${#parts[@]}))
    part=${parts[$k]}
    dir=${dirs[$part]:?unknown part $part}
    if [ "$part" = conformers ]; then
        step=(build-conformers)
    else
        step=(build --part "$part")
    fi
    out=$(.venv/bin/python scripts/build_dataset.py "${step[@]}" --workers "$workers" \
          --chunk-size "${sizes[$part]}" --max-chunks 1 2>>.cache/build.log) || exit 1
    out=$(grep '\.parquet$' <<< "$out" | head -1)
    if [ -z "$out" ]; then
        echo "$(date +%T) all $part chunks built"
        unset "parts[$k]"
        parts=("${parts[@]}")
        continue
    fi
    for try in 1 2 3 4 5; do
        git add "$dir" && \
        git commit -q -m "Embedded dataset ($part): chunk $(basename "$out" .parquet)" -- "$dir" && break
        sleep 3
    done
    echo "$(date +%T) committed $out"
done
