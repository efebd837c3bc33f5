#!/usr/bin/env bash
# Set up (or refresh) .venv and run the main job on the example data that ship with
# mspectmol: predict the functional groups of the three example molecules from their
# spectra, list their true groups for comparison, and convert the example spectra to the
# canonical 600-point grids.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
OUT="${1:-out/demo}"
EX=src/mspectmol/data/examples
mkdir -p "$OUT"
echo "[demo] functional groups predicted from the example spectra -> $OUT/predict/"
.venv/bin/mspectmol predict --folder "$EX" -o "$OUT/predict"
echo "[demo] the example molecules' true functional groups -> $OUT/labels.csv"
.venv/bin/mspectmol label "$EX/molecules.smi"
.venv/bin/mspectmol label "$EX/molecules.smi" -o "$OUT/labels.csv"
echo "[demo] example spectra -> canonical 600-point grids in $OUT/"
.venv/bin/mspectmol convert "$EX"/*.jdx "$EX"/*.csv -o "$OUT/examples_600.csv"
echo "[demo] done: reports in $OUT/predict/ (summary.csv, one .html and .json per sample)"
