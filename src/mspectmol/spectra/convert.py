"""Convert spectrum files of any supported format to the canonical grids.

This is the Python API behind ``mspectmol convert``: read every spectrum of every input
file (streaming), bring it to the modality's canonical grid through the one preprocessing
path (:func:`~mspectmol.spectra.pipeline.prepare`, exactly what ``predict`` gives a model),
and write one table per modality. Files of several modalities can be converted together
when each file says what it holds; ``modality`` is used for the files that do not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mspectmol.errors import MspectmolError, SpectrumFileError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.pipeline import PrepareOptions, prepare
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.readers import read_spectra
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_csv, write_parquet

log = logging.getLogger("mspectmol.convert")


@dataclass
class GridSpectra:
    """Spectra of one modality on a common grid.

    Attributes
    ----------
    modality
        Registry name of the modality.
    x
        The grid (ascending, canonical unit).
    rows
        One intensity vector per spectrum.
    names
        A name per spectrum (``file`` or ``file#k`` for multi-spectrum files, or the title).
    y_unit
        Intensity unit after conversion (e.g. ``absorbance`` for IR given in %T); when the
        inputs differ, ``"arbitrary"``.
    preprocessing
        The preprocessing steps applied to each spectrum.
    warnings
        What a person should know about each spectrum (units decided from the values,
        coverage, intensity outside the grid, ...).
    """

    modality: str
    x: np.ndarray
    y_unit: str = "arbitrary"
    rows: list[np.ndarray] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    preprocessing: list[list[str]] = field(default_factory=list)
    warnings: list[list[str]] = field(default_factory=list)

    @property
    def matrix(self) -> np.ndarray:
        """``(n_spectra, n_points)`` float32 matrix."""
        return np.vstack(self.rows).astype(np.float32) if self.rows else np.zeros(
            (0, self.x.size), np.float32)


def _read(path: Path, modality: str | None, fmt: str | None) -> Iterable[Spectrum]:
    """The file's spectra; ``modality`` only for a file that does not say what it holds."""
    try:
        spectra = read_spectra(path, None, format=fmt)
        first = next(spectra, None)
    except SpectrumFileError as exc:
        if modality is None or "-m/--modality" not in exc.problem:
            raise  # only a file that asks for the modality gets the -m one
        yield from read_spectra(path, modality, format=fmt)
        return
    if first is None:
        return
    if modality is not None and first.modality != modality:
        raise SpectrumFileError(f"the file holds a {first.modality!r} spectrum but "
                                f"-m/--modality {modality} was given", path)
    yield first
    yield from spectra


def convert_files(paths: Iterable[str | Path], *, modality: str | None = None,
                  n_points: int = 600, normalise: str = "max",
                  fmt: str | None = None, options: PrepareOptions | None = None
                  ) -> dict[str, GridSpectra]:
    """Read spectrum files and put every spectrum on its modality's canonical grid.

    Parameters
    ----------
    paths
        Spectrum files in any supported format.
    modality
        Modality of the spectra of files that do not say (a file that says another one is
        an error).
    n_points
        Number of grid points (the paper's N, default 600).
    normalise
        Normalisation at the end (``"max"``: maximum 1).
    fmt
        Force a reader instead of detecting the format.
    options
        The preprocessing options (:class:`~mspectmol.spectra.pipeline.PrepareOptions`).

    Returns
    -------
    dict
        Modality name -> :class:`GridSpectra`, in the order modalities were first seen.
    """
    if modality is not None:
        modality = get_modality(modality).name  # an unknown name fails before any file
    grids: dict[str, GridSpectra] = {}
    n_files = 0
    for path in paths:
        path = Path(path)
        n_files += 1
        count = 0
        for spectrum in _read(path, modality, fmt):
            count += 1
            grid = grids.get(spectrum.modality)
            if grid is None:
                grid = grids[spectrum.modality] = GridSpectra(
                    spectrum.modality, canonical_grid(spectrum.modality, n_points))
            prepared = prepare(spectrum, grid.x, normalise, options)
            unit = prepared.y_unit
            if not grid.rows:
                grid.y_unit = unit
            elif grid.y_unit != unit:
                grid.y_unit = "arbitrary"  # inputs in different units
            title = str(spectrum.metadata.get("title") or "").strip()
            name = path.stem if count == 1 else f"{path.stem}#{count}"
            grid.rows.append(prepared.y)
            grid.names.append(title if title and count > 1 else name)
            grid.preprocessing.append(list(prepared.steps))
            grid.warnings.append(list(prepared.warnings))
            for w in prepared.warnings:
                log.warning("%s: %s", name, w)
        if count == 0:
            raise MspectmolError(f"{path}: the file holds no spectrum")
        log.debug("%s: %d spectra", path, count)
    if n_files == 0:
        raise MspectmolError("no input files given")
    return grids


def check_output_path(output: str | Path) -> Path:
    """The output path, checked to end in ``.csv`` or ``.parquet``."""
    output = Path(output)
    if output.suffix.lower() not in (".csv", ".parquet"):
        raise MspectmolError(f"{output}: output must end in .csv or .parquet")
    return output


def write_grids(grids: dict[str, GridSpectra], output: str | Path) -> list[Path]:
    """Write converted spectra: ``.csv`` or ``.parquet`` (by suffix), one file per modality.

    With several modalities, the modality name is appended to the file stem
    (``out.csv`` -> ``out_ir.csv``, ``out_h_nmr.csv``).

    Returns
    -------
    list of Path
        The files written.
    """
    output = check_output_path(output)
    suffix = output.suffix.lower()
    output.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for mod, grid in grids.items():
        target = output if len(grids) == 1 else output.with_name(
            f"{output.stem}_{mod}{output.suffix}")
        if suffix == ".csv":
            write_csv(target, grid.x, grid.matrix, mod, names=grid.names, y_unit=grid.y_unit)
        else:
            write_parquet(target, grid.x, grid.matrix, mod, names=grid.names,
                          y_unit=grid.y_unit)
        written.append(target)
    return written
