"""Alberts et al. (2024) parquet columns onto the canonical grids the models read.

:class:`GridConverter` turns a ``pyarrow.RecordBatch`` of the dataset into
``{modality: (n, n_points) float32}``: IR, 1H and 13C NMR through the resampling of the one
preprocessing path (a plan precomputed once per axis by
:func:`~mspectmol.spectra.batch.plan_resampling`: cell means for the finer NMR axes, rendered
at the training line width), the MS/MS modalities ``msms_pos`` and ``msms_neg`` (three
collision energies binned on ``n_points`` m/z cells and merged:
:func:`~mspectmol.spectra.readers.alberts_msms.msms_grid`) and one MS/MS column (``"ms"``)
binned as a :class:`MsmsBinning` says; rows are scaled to maximum 1. The stream and the
memmap store of :mod:`mspectmol.data.streaming` use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import ConfigError
from mspectmol.spectra.batch import normalise_rows_max, plan_resampling
from mspectmol.spectra.preprocessing import N_POINTS, bin_peaks, canonical_grid
from mspectmol.spectra.readers.alberts import (
    ALBERTS_AXES,
    ALBERTS_COLUMNS,
    list_matrix,
    msms_column_candidates,
    peak_arrays,
)
from mspectmol.spectra.readers.alberts_msms import MSMS_MODALITIES, msms_columns, msms_grid
from mspectmol.spectra.readers.base import modality_name

#: Modalities the stream yields by default (the dataset's profile spectra).
STREAM_MODALITIES = ("ir", "h_nmr", "c_nmr")


@dataclass(frozen=True)
class MsmsBinning:
    """Which CFM-ID MS/MS column to bin and how (Alberts et al. use 0.1 m/z bins, 40 eV)."""

    kind: str = "positive"
    energy: int = 40
    bin_width: float = 1.0
    mz_min: float = 0.0
    mz_max: float = 1000.0

    def centres(self) -> np.ndarray:
        """m/z of the bin centres."""
        n = int(round((self.mz_max - self.mz_min) / self.bin_width))
        return self.mz_min + (np.arange(n) + 0.5) * self.bin_width


class GridConverter:
    """Alberts et al. columns -> ``{modality: (n, n_points) float32}`` on canonical grids.

    ``modalities``: any of ``ir``, ``h_nmr``, ``c_nmr`` (interpolated to ``n_points``),
    ``msms_pos``, ``msms_neg`` (binned on ``n_points`` m/z cells, energies merged) and ``ms``
    (binned as ``msms`` says); ``normalise`` scales rows to maximum 1 (zero rows stay
    zero). Raises :class:`ConfigError` for no modality or one the dataset lacks.
    """

    def __init__(self, modalities: Sequence[str] = STREAM_MODALITIES, n_points: int = N_POINTS,
                 *, normalise: bool = True, msms: MsmsBinning | None = None) -> None:
        mods = tuple(dict.fromkeys(modality_name(m) for m in modalities))
        known = (*ALBERTS_COLUMNS, *MSMS_MODALITIES, "ms")
        if not mods or any(m not in known for m in mods):
            raise ConfigError(f"the Alberts et al. dataset has {', '.join(known)} spectra; "
                              f"asked for {', '.join(mods) or 'none'}")
        self.modalities = mods
        self.normalise = bool(normalise)
        self.msms = (msms or MsmsBinning()) if "ms" in mods else None
        self.grids = {m: canonical_grid(m, n_points) if m != "ms" else self.msms.centres()
                      for m in mods}
        self._plans = {m: plan_resampling(ALBERTS_AXES[ALBERTS_COLUMNS[m]], self.grids[m], m)
                       for m in mods if m in ALBERTS_COLUMNS}

    def columns(self, available: Sequence[str]) -> list[str]:
        """Columns to read (``smiles`` first), choosing the MS/MS spelling ``available`` has.

        Raises
        ------
        ConfigError
            When a needed column is not among ``available``.
        """
        cols = ["smiles"] + [c for m in self.modalities if m != "ms" for c in (
            msms_columns(m, available) if m in MSMS_MODALITIES else [ALBERTS_COLUMNS[m]])]
        if self.msms is not None:
            names = msms_column_candidates(self.msms.kind, self.msms.energy)
            cols.append(next((c for c in names if c in available), names[0]))
        missing = [c for c in cols if c not in available]
        if missing:
            raise ConfigError(f"the parquet data has no column(s) {', '.join(missing)}")
        return cols

    def convert(self, batch: Any, source: Path, first_row: int) -> dict[str, np.ndarray]:
        """Grid the spectra of a ``pyarrow.RecordBatch`` read from ``source``.

        Raises
        ------
        SpectrumFileError
            Null, wrong-length or non-finite rows (naming file and rows).
        """
        out: dict[str, np.ndarray] = {}
        names = batch.schema.names
        for mod in self.modalities:
            if mod == "ms":
                out[mod] = self._bin(batch, names, source, first_row)
            elif mod in MSMS_MODALITIES:
                out[mod] = msms_grid([batch.column(names.index(c)) for c in msms_columns(
                    mod, names)], self.grids[mod], f"{mod} (rows from {first_row})", source)
            else:
                column = ALBERTS_COLUMNS[mod]
                rows = list_matrix(batch.column(names.index(column)), ALBERTS_AXES[column].size,
                                   f"column {column} (rows from {first_row})", source)
                out[mod] = self._plans[mod].apply(rows)
        if self.normalise:
            for x in out.values():
                normalise_rows_max(x)
        return out

    def _bin(self, batch: Any, names: list[str], source: Path, first_row: int) -> np.ndarray:
        ms = self.msms
        column = next(c for c in msms_column_candidates(ms.kind, ms.energy) if c in names)
        peaks = peak_arrays(batch.column(names.index(column)),
                            f"column {column} (rows from {first_row})", source)
        out = np.zeros((len(peaks), self.grids["ms"].size), dtype=np.float32)
        for i, p in enumerate(peaks):
            out[i] = bin_peaks(p[:, 0], p[:, 1], ms.bin_width, ms.mz_min, ms.mz_max,
                               source=f"{source} (row {first_row + i})")
        return out

