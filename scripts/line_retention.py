"""How many NMR lines survive the trip to the 600-point grid: the one preprocessing path
(:func:`mspectmol.spectra.pipeline.prepare`) against point sampling (the paper's eq. 3).

    python scripts/line_retention.py [--alberts PARQUET]

Lines are the local maxima of a high-resolution spectrum of at least 2% of its maximum;
lines closer than two grid steps cannot be told apart on the grid and count as one. A line
is kept when the gridded spectrum has a local maximum (at least 1% of its maximum) within
one grid step of it (plus half the group's spread). Run on the Alberts et al. example's
13C and 1H spectra (10,000 points each; transfer validation data, never trained on).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

from mspectmol.spectra.pipeline import prepare
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.readers.alberts import AlbertsParquet
from mspectmol.spectra.units import to_canonical

ALBERTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "alberts-example" / \
    "example_data_1.parquet"


def kept(grid: np.ndarray, y: np.ndarray, centres: np.ndarray, tol: np.ndarray) -> float:
    """Share of the line groups with a gridded local maximum within ``tol`` of them."""
    idx, _ = find_peaks(y, height=0.01 * y.max())
    return float(np.mean([np.any(np.abs(grid[idx] - c) <= t) for c, t in zip(centres, tol,
                                                                              strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alberts", type=Path, default=ALBERTS)
    args = parser.parse_args()
    data = AlbertsParquet(args.alberts)
    print("| spectra | molecules | resolvable lines per spectrum | kept: one path | "
          "kept: eq. 3 |")
    print("|---|---|---|---|---|")
    for m in ("c_nmr", "h_nmr"):
        grid = canonical_grid(m, 600)
        step = grid[1] - grid[0]
        new, old, counts = [], [], []
        for spectrum in data.iter_spectra(m):
            canon = to_canonical(spectrum)
            idx, _ = find_peaks(canon.y, height=0.02 * canon.y.max())
            pos = canon.x[idx]
            pos = pos[(pos > grid[0]) & (pos < grid[-1])]
            groups = [[pos[0]]]
            for p in pos[1:]:
                if p - groups[-1][-1] < 2 * step:
                    groups[-1].append(p)
                else:
                    groups.append([p])
            centres = np.array([np.mean(g) for g in groups])
            tol = step + np.array([0.5 * (g[-1] - g[0]) for g in groups])
            new.append(kept(grid, prepare(spectrum, grid).y, centres, tol))
            old.append(kept(grid, np.interp(grid, canon.x, canon.y), centres, tol))
            counts.append(centres.size)
        print(f"| {m} | {len(new)} | {np.mean(counts):.1f} | {np.mean(new):.3f} | "
              f"{np.mean(old):.3f} |")


if __name__ == "__main__":
    main()
