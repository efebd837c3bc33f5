"""The CFM-ID MS/MS of the Alberts et al. (2024) dataset as two spectral modalities.

``msms_pos`` and ``msms_neg`` (:mod:`mspectmol.spectra.modalities`) are the positive- and
negative-mode MS/MS of a molecule: the peak lists of the three collision energies (10, 20 and
40 eV; columns ``msms_cfmid_{positive,negative}_{10,20,40}ev``, or ``msms_*`` in older
releases) binned onto the modality's m/z grid (0-1000 m/z, ``n_points`` cells centred on the
grid points: 1.67 m/z at 600 points) and merged into one spectrum (:func:`msms_grid`).
:class:`~mspectmol.data.streaming.GridConverter` reads them in batches and scales each row to
a maximum of 1, like every other spectrum.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.alberts import MSMS_ENERGIES, msms_column_candidates

#: MS/MS modality -> CFM-ID ionisation mode whose three collision energies it merges.
MSMS_MODALITIES = {"msms_pos": "positive", "msms_neg": "negative"}
#: The treatment of :func:`msms_grid`, recorded in memmap stores (a change makes new stores).
MSMS_MERGE = "10/20/40 eV binned (largest peak per cell), each scaled to max 1, summed"


def msms_columns(modality: str, available: Sequence[str]) -> list[str]:
    """The 10, 20 and 40 eV columns of an MS/MS modality, in the spelling ``available`` has
    (the current one when neither is there)."""
    spellings = [msms_column_candidates(MSMS_MODALITIES[modality], e) for e in MSMS_ENERGIES]
    return [next((c for c in names if c in available), names[0]) for names in spellings]


def msms_bins(array: Any, grid: np.ndarray, where: str, source: Path) -> np.ndarray:
    """An MS/MS column (pyarrow lists of ``[m/z, intensity]`` pairs) binned onto ``grid``.

    ``grid`` is uniform and ascending; cell ``k`` holds the m/z within half a step of
    ``grid[k]`` and keeps its largest peak; peaks outside every cell are dropped. Null or
    empty rows are all zero.

    Returns
    -------
    numpy.ndarray
        ``(n, grid.size)`` float32.

    Raises
    ------
    SpectrumFileError
        Naming the row, for pairs that are not two finite numbers with intensity >= 0.
    """
    import pyarrow.compute as pc

    n = len(array)
    out = np.zeros((n, grid.size), dtype=np.float32)
    counts = pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False)
    pairs = array.flatten()
    if len(pairs) == 0:
        return out
    owner = np.repeat(np.arange(n), counts)
    sizes = pc.list_value_length(pairs).fill_null(0).to_numpy(zero_copy_only=False)
    values = pairs.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    bad = np.flatnonzero(sizes != 2)
    if bad.size == 0:
        peaks = values.reshape(-1, 2)
        bad = np.flatnonzero(~np.isfinite(peaks).all(axis=1) | (peaks[:, 1] < 0))
    if bad.size:
        raise SpectrumFileError(f"{where}, row {int(owner[bad[0]])}: peaks are not finite "
                                "[m/z, intensity >= 0] pairs", source)
    step = float(grid[1] - grid[0])
    cell = np.floor((peaks[:, 0] - grid[0]) / step + 0.5).astype(np.int64)
    keep = (cell >= 0) & (cell < grid.size)
    np.maximum.at(out, (owner[keep], cell[keep]), peaks[keep, 1].astype(np.float32))
    return out


def msms_grid(columns: Sequence[Any], grid: np.ndarray, where: str, source: Path
              ) -> np.ndarray:
    """One ionisation mode's MS/MS spectra: its collision energies merged on ``grid``.

    The paper gives each mode one spectrum of the 600-point input (Table 1 and appendix H
    count MS/MS+ and MS/MS- as one modality each; section 2.2.1 brings every spectrum to 600
    uniformly spaced points and normalises it) without saying how the three collision
    energies become one. Here each energy's column is binned with :func:`msms_bins` (binning
    is the peak-list form of cell-wise resampling), scaled to a maximum of 1 per row, and the
    energies are summed, so each weighs the same and the grid keeps its finest m/z cells
    (1.67 m/z over 0-1000 at 600 points; concatenating three energies would leave 200 cells
    of 5 m/z each). The caller normalises the sum like every other spectrum.
    """
    total = np.zeros((len(columns[0]), grid.size), dtype=np.float32)
    for column in columns:
        binned = msms_bins(column, grid, where, source)
        top = binned.max(axis=1, keepdims=True)
        np.divide(binned, top, out=binned, where=top > 0)
        total += binned
    return total
