#!/usr/bin/env bash
# Set up (or refresh) .venv and run the main job on the embedded example data:
# label the example molecules with the 37 functional groups and convert the example
# spectra that ship with mspectmol to the canonical 600-point grids.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
OUT="${1:-out/demo}"
EX=src/mspectmol/data/examples
mkdir -p "$OUT"
echo "[demo] functional groups of the example molecules -> $OUT/labels.csv"
.venv/bin/mspectmol label "$EX/molecules.smi"
.venv/bin/mspectmol label "$EX/molecules.smi" -o "$OUT/labels.csv"
echo "[demo] example spectra -> canonical 600-point grids in $OUT/"
.venv/bin/mspectmol convert "$EX"/*.jdx "$EX"/*.csv -o "$OUT/examples_600.csv"
echo "[demo] done: results in $OUT/"
