"""Benchmark: load the embedded dataset as training-ready arrays (issue 3 target: < 10 s).

Prints the wall time of :func:`mspectmol.data.dataset.load_dataset` for all molecules and
all four modalities, next to a baseline measured in the same run: broadening each spectrum
one by one with :func:`mspectmol.spectra.preprocessing.broaden` (on a subset, extrapolated).

    python benchmarks/bench_dataset_load.py [--repeat 3] [--baseline-subset 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-subset", type=int, default=500)
    args = parser.parse_args()
    t0 = time.perf_counter()
    from mspectmol.data.dataset import (
        BROADENING,
        DATASET_MODALITIES,
        PEAK_COLUMNS,
        load_dataset,
        read_chunks,
    )
    from mspectmol.spectra.preprocessing import broaden, canonical_grid

    print(f"imports: {time.perf_counter() - t0:.2f} s")
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        ds = load_dataset(DATASET_MODALITIES)
        times.append(time.perf_counter() - t)
    n = len(ds)
    best = min(times)
    print(f"load_dataset: {n} molecules x {len(DATASET_MODALITIES)} modalities x 600 points: "
          f"best {best:.2f} s of {args.repeat} (all: {', '.join(f'{x:.2f}' for x in times)})")
    # baseline: one broaden() call per spectrum
    cols = sorted({c for m in DATASET_MODALITIES for c in PEAK_COLUMNS[m]})
    rows = read_chunks(columns=cols).slice(0, args.baseline_subset).to_pylist()
    t = time.perf_counter()
    for m in DATASET_MODALITIES:
        grid = canonical_grid(m, 600)
        shape, fwhm = BROADENING[m]
        pos_col, amp_col = PEAK_COLUMNS[m]
        for r in rows:
            pos, amp = np.asarray(r[pos_col]), np.asarray(r[amp_col], float)
            if m in ("ir", "raman"):
                pos, amp = pos[pos > 0], amp[pos > 0]
            if pos.size:
                y = broaden(pos, amp, grid, max(fwhm, 2 * (grid[1] - grid[0])), shape)
                y /= max(y.max(), 1e-30)
    per = (time.perf_counter() - t) / max(len(rows), 1)
    print(f"baseline (per-spectrum broaden, {len(rows)} molecules): {per * n:.2f} s "
          f"extrapolated to {n}; speed-up {per * n / best:.1f}x")
    print(f"target < 10 s: {'met' if best < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
