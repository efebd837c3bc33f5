"""The multimodal spectroscopic dataset of Alberts et al. (2024), read from its parquet chunks.

Each row is one molecule: ``smiles``, ``molecular_formula``, an IR spectrum (1800 points,
400 -> 4000 cm-1 ascending), 1H and 13C NMR spectra (10000 points each, *descending*
10 -> -2 ppm and 230 -> -20 ppm), CFM-ID MS/MS peak lists (``[m/z, intensity]`` pairs, named
``msms_cfmid_{positive,negative}_{10,20,40}ev`` or, in older releases,
``msms_{positive,negative}_{10,20,40}ev``) and a 512 x 512 HSQC matrix. A row is large, so
every read here names its columns and goes row group by row group, batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.multiplets import DEFAULT_MHZ, expand_table
from mspectmol.spectra.readers.base import PathArg, build_spectrum, check_file, modality_name
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import Spectrum


def _axis(start: float, stop: float, n: int) -> np.ndarray:
    axis = np.linspace(start, stop, n)
    axis.setflags(write=False)
    return axis


#: x axes of the spectral columns (IR ascending; NMR descending as stored).
ALBERTS_AXES: dict[str, np.ndarray] = {
    "ir_spectra": _axis(400.0, 4000.0, 1800),
    "h_nmr_spectra": _axis(10.0, -2.0, 10000),
    "c_nmr_spectra": _axis(230.0, -20.0, 10000),
}
#: Modality -> spectral column.
ALBERTS_COLUMNS: dict[str, str] = {"ir": "ir_spectra", "h_nmr": "h_nmr_spectra",
                                   "c_nmr": "c_nmr_spectra"}
#: Units of the spectral columns (IR is absorbance scaled to a maximum of 1).
_UNITS = {"ir_spectra": ("cm-1", "absorbance"), "h_nmr_spectra": ("ppm", "arbitrary"),
          "c_nmr_spectra": ("ppm", "arbitrary")}
MSMS_KINDS = ("positive", "negative")
MSMS_ENERGIES = (10, 20, 40)


def msms_column_candidates(kind: str = "positive", energy: int = 40) -> tuple[str, str]:
    """Both spellings of an MS/MS column: ``msms_cfmid_positive_40ev``, ``msms_positive_40ev``."""
    if kind not in MSMS_KINDS or int(energy) not in MSMS_ENERGIES:
        raise ValueError(f"MS/MS kind must be one of {MSMS_KINDS} and energy one of "
                         f"{MSMS_ENERGIES}, got {kind!r}, {energy!r}")
    return f"msms_cfmid_{kind}_{int(energy)}ev", f"msms_{kind}_{int(energy)}ev"


def list_matrix(array: Any, length: int, where: str, source: Path,
                dtype: Any = np.float32) -> np.ndarray:
    """A pyarrow list array of equal-length rows as a ``(n, length)`` matrix.

    ``dtype`` is the matrix type (float32 by default; ``None`` keeps the stored type).

    Raises
    ------
    SpectrumFileError
        On null rows, rows of another length, or NaN/infinite values (naming the row).
    """
    n = len(array)
    if array.null_count:
        bad = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise SpectrumFileError(f"{where}, row {bad}: missing spectrum (null)", source)
    lengths = array.value_lengths().to_numpy(zero_copy_only=False)
    if n and (lengths != length).any():
        bad = int(np.flatnonzero(lengths != length)[0])
        raise SpectrumFileError(f"{where}, row {bad}: {lengths[bad]} values, expected "
                                f"{length}", source)
    values = array.flatten().to_numpy(zero_copy_only=False)
    if dtype is not None:
        values = values.astype(dtype, copy=False)
    matrix = values.reshape(n, length)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise SpectrumFileError(f"{where}, row {bad}: NaN or infinite values", source)
    return matrix


def peak_arrays(array: Any, where: str, source: Path) -> list[np.ndarray]:
    """A pyarrow list-of-pairs column as a list of ``(k, 2)`` float64 arrays."""
    out = []
    for i, row in enumerate(array.to_pylist()):
        try:
            peaks = np.asarray(row or [], dtype=np.float64)
        except ValueError:
            peaks = np.full((1, 3), np.nan)  # ragged pairs
        if peaks.size == 0:
            peaks = peaks.reshape(0, 2)
        if peaks.ndim != 2 or peaks.shape[1] != 2 or not np.isfinite(peaks).all():
            raise SpectrumFileError(f"{where}, row {i}: peaks are not finite [m/z, "
                                    "intensity] pairs", source)
        out.append(peaks)
    return out


class AlbertsParquet:
    """One parquet chunk of the Alberts et al. dataset, or a directory of chunks.

    Parameters
    ----------
    path
        A ``.parquet`` file or a directory whose ``*.parquet`` files are read in name order.

    Raises
    ------
    SpectrumFileError
        When the path is missing or empty, a file is not a readable parquet file
        (truncated, corrupt) or holds none of the dataset's spectral columns.
    """

    def __init__(self, path: PathArg) -> None:
        p = check_file(path, allow_dir=True)
        self.path = p
        self.files = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
        if not self.files:
            raise SpectrumFileError("no *.parquet files in the directory", p)
        self._rows: list[int] | None = None
        self.columns: list[str] = list(self._open(self.files[0]).schema_arrow.names)
        known = set(ALBERTS_AXES) | {c for k in MSMS_KINDS for e in MSMS_ENERGIES
                                     for c in msms_column_candidates(k, e)}
        if not known & set(self.columns):
            raise SpectrumFileError(
                "not an Alberts et al. spectra parquet: none of the columns "
                f"{', '.join(ALBERTS_AXES)} or msms_* (found: {', '.join(self.columns[:12])})",
                self.files[0])

    @staticmethod
    def _open(file: Path) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(file)
        except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: bad UTF-8
            raise SpectrumFileError(f"not a readable parquet file (truncated or corrupt: "
                                    f"{exc})", file) from None

    @property
    def num_rows(self) -> int:
        """Number of molecules over all files (from the parquet footers)."""
        if self._rows is None:
            self._rows = [self._open(f).metadata.num_rows for f in self.files]
        return int(sum(self._rows))

    def _check_columns(self, columns: Sequence[str]) -> list[str]:
        if isinstance(columns, str) or not columns:
            raise ValueError("give an explicit, non-empty list of column names")
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise SpectrumFileError(f"no column(s) {', '.join(missing)}; the file has "
                                    f"{', '.join(self.columns)}", self.files[0])
        return list(columns)

    def iter_batches(self, columns: Sequence[str], batch_size: int = 256) -> Iterator[Any]:
        """Yield ``pyarrow.RecordBatch`` objects of the named columns, row group by row group.

        ``batch["__file__"]`` is not added; use :meth:`iter_located_batches` to know where
        a batch comes from.
        """
        for _, _, batch in self.iter_located_batches(columns, batch_size):
            yield batch

    def iter_located_batches(self, columns: Sequence[str],
                             batch_size: int = 256) -> Iterator[tuple[Path, int, Any]]:
        """Like :meth:`iter_batches`, yielding ``(file, first_row_in_file, batch)``."""
        import pyarrow as pa

        cols = self._check_columns(columns)
        for file in self.files:
            pf = self._open(file)
            missing = [c for c in cols if c not in pf.schema_arrow.names]
            if missing:
                raise SpectrumFileError(f"no column(s) {', '.join(missing)}", file)
            row = 0
            for group in range(pf.num_row_groups):
                try:
                    for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group],
                                                 columns=cols):
                        batch.validate(full=True)  # e.g. text that is not UTF-8
                        yield file, row, batch
                        row += batch.num_rows
                except (pa.ArrowException, OSError) as exc:
                    raise SpectrumFileError(f"cannot read row group {group} (truncated or "
                                            f"corrupt: {exc})", file) from None

    def msms_column(self, kind: str = "positive", energy: int = 40) -> str:
        """The MS/MS column of this file for ``kind`` and ``energy``, either generation."""
        for name in msms_column_candidates(kind, energy):
            if name in self.columns:
                return name
        raise SpectrumFileError(f"no MS/MS column for {kind} {energy} eV (looked for "
                                f"{' or '.join(msms_column_candidates(kind, energy))})",
                                self.files[0])

    def load_arrays(self, columns: Sequence[str] = ("smiles", "ir_spectra", "h_nmr_spectra",
                                                    "c_nmr_spectra"),
                    max_rows: int | None = None, batch_size: int = 256
                    ) -> dict[str, np.ndarray | list]:
        """Read columns into memory: spectra into preallocated float32 matrices.

        Returns
        -------
        dict
            Column -> ``(n, 1800)`` / ``(n, 10000)`` float32 array for spectral columns,
            list of ``(k, 2)`` arrays for MS/MS columns, list of values otherwise.
        """
        cols = self._check_columns(columns)
        n = self.num_rows if max_rows is None else min(int(max_rows), self.num_rows)
        out: dict[str, Any] = {c: np.empty((n, ALBERTS_AXES[c].size), np.float32)
                               if c in ALBERTS_AXES else [] for c in cols}
        filled = 0
        for file, row, batch in self.iter_located_batches(cols, batch_size):
            take = min(batch.num_rows, n - filled)
            if take <= 0:
                break
            for c in cols:
                arr = batch.column(c).slice(0, take)
                where = f"column {c} (rows from {row})"
                if c in ALBERTS_AXES:
                    out[c][filled:filled + take] = list_matrix(arr, ALBERTS_AXES[c].size,
                                                               where, file)
                elif c.startswith("msms_") and "fragments" not in c:
                    out[c].extend(peak_arrays(arr, where, file))
                else:
                    out[c].extend(arr.to_pylist())
            filled += take
        return out

    def msms(self, kind: str = "positive", energy: int = 40,
             max_rows: int | None = None) -> list[np.ndarray]:
        """MS/MS peak lists (``(k, 2)`` arrays of m/z and intensity) of every molecule."""
        column = self.msms_column(kind, energy)
        return self.load_arrays([column], max_rows=max_rows)[column]

    def iter_spectra(self, modality: str, *, kind: str = "positive", energy: int = 40,
                     batch_size: int = 256) -> Iterator[Spectrum]:
        """Yield one :class:`Spectrum` per molecule for ``modality`` (ms: MS/MS peaks)."""
        mod = modality_name(modality, self.path)
        if mod == "ms":
            column = self.msms_column(kind, energy)
        elif mod in ALBERTS_COLUMNS:
            column = ALBERTS_COLUMNS[mod]
        else:
            raise SpectrumFileError(f"the dataset has no {mod!r} spectra (it has ir, h_nmr, "
                                    "c_nmr and ms)", self.path)
        cols = [c for c in ("smiles", "molecular_formula") if c in self.columns] + [column]
        for file, row, batch in self.iter_located_batches(cols, batch_size):
            where = f"column {column} (rows from {row})"
            arr = batch.column(column)
            rows = peak_arrays(arr, where, file) if mod == "ms" else \
                list_matrix(arr, ALBERTS_AXES[column].size, where, file)
            info = {c: batch.column(c).to_pylist() for c in cols[:-1]}
            for i, values in enumerate(rows):
                meta = {"format": "alberts-parquet", "file": str(file), "row": row + i,
                        "dataset": "alberts2024", "column": column}
                meta.update({("formula" if c == "molecular_formula" else c): v[i]
                             for c, v in info.items()})
                if mod == "ms":
                    meta.update(ionmode=kind, collision_energy=int(energy))
                    x, y, k = values[:, 0], values[:, 1], "peaks"
                    x_unit, y_unit = "m/z", "relative"
                else:
                    x, y, k = ALBERTS_AXES[column], values, "profile"
                    x_unit, y_unit = _UNITS[column]
                yield build_spectrum(x, y, mod, x_unit=x_unit, y_unit=y_unit,
                                     metadata=meta, source=file, kind=k,
                                     where=f"row {row + i}")


#: Peak-list columns: 1H multiplets (centroid, nH, category, j_values, rangeMin/Max) and
#: 13C lines (delta (ppm), intensity).
PEAK_COLUMNS = {"h_nmr": "h_nmr_peaks", "c_nmr": "c_nmr_peaks"}


def _h_peaks(rows: list[dict[str, Any]], mhz: float) -> tuple[np.ndarray, np.ndarray]:
    table = [{"centre": r.get("centroid", r.get("delta")), "n_h": r.get("nH", 1),
              "multiplicity": r.get("category") or "s", "j": r.get("j_values"),
              "range": (r["rangeMin"], r["rangeMax"]) if r.get("rangeMin") is not None
              and r.get("rangeMax") is not None else None} for r in rows]
    return expand_table(table, mhz=mhz)


def iter_peak_spectra(data: AlbertsParquet, modality: str, *, mhz: float = DEFAULT_MHZ,
                      batch_size: int = 256) -> Iterator[Spectrum]:
    """One peak-list spectrum per molecule from the ``*_peaks`` columns (1H: first-order
    multiplets from each row's category and J values at ``mhz``; 13C: line heights)."""
    mod = modality_name(modality, data.path)
    if mod not in PEAK_COLUMNS:
        raise SpectrumFileError(f"the dataset has peak lists for {', '.join(PEAK_COLUMNS)}, "
                                f"not {mod}", data.path)
    column = PEAK_COLUMNS[mod]
    cols = [c for c in ("smiles", "molecular_formula") if c in data.columns] + [column]
    for file, row, batch in data.iter_located_batches(cols, batch_size):
        info = {c: batch.column(c).to_pylist() for c in cols}
        for i, peaks in enumerate(info[column]):
            peaks = peaks or []
            if mod == "h_nmr":
                x, y = _h_peaks(peaks, mhz)
            else:
                x = np.array([p["delta (ppm)"] for p in peaks], dtype=np.float64)
                y = np.array([p["intensity"] for p in peaks], dtype=np.float64)
            meta = {"format": "alberts-parquet", "file": str(file), "row": row + i,
                    "dataset": "alberts2024", "column": column, "observe_mhz": mhz}
            meta.update({("formula" if c == "molecular_formula" else c): info[c][i]
                         for c in cols[:-1]})
            yield build_spectrum(x, y, mod, x_unit="ppm", y_unit="relative", metadata=meta,
                                 source=file, kind="peaks", where=f"row {row + i}")


def read_alberts(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Dispatcher reader: one spectrum per molecule of the chosen modality.

    ``modality`` is required (the dataset holds several per molecule); ``"ms"`` gives the
    positive-mode 40 eV CFM-ID MS/MS peaks.
    """
    data = AlbertsParquet(path)
    if modality is None:
        raise SpectrumFileError("an Alberts et al. parquet holds ir, h_nmr, c_nmr and ms "
                                "spectra for each molecule; choose one with -m/--modality",
                                data.path)
    yield from data.iter_spectra(modality)


def sniff_alberts(probe: Probe) -> bool:
    """A folder holding ``*.parquet`` files, or a parquet file (raising a clear error when
    it lacks the dataset's columns); asked after the other parquet formats."""
    if probe.container == "folder":
        return any(probe.path.glob("*.parquet"))
    AlbertsParquet(probe.path)
    return True


FORMAT = FormatSpec(
    "alberts-parquet", read_alberts, "Alberts et al. parquet",
    "the multimodal dataset of Alberts et al. 2024: a chunk or a folder of *.parquet chunks, "
    "read row group by row group", containers=("parquet", "folder"), aliases=("alberts",),
    extensions=(".parquet", ".pq"), sniff=sniff_alberts, modalities=("ir", "h_nmr", "c_nmr", "ms"),
    dataset=True)
