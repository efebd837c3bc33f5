"""Broadened spectra of the QM9S dataset (Zou et al. 2023): one CSV per modality.

``ir_boraden.csv`` and ``raman_boraden.csv`` hold 3501 intensities per molecule on
500-4000 cm-1 (1 cm-1 steps), ``uv_boraden.csv`` 701 intensities on 1-15 eV (0.02 eV
steps); the first column is the molecule index and the first row a header (an empty cell,
then the grid). The names really say "boraden"; a re-upload says "broaden". Rows are
streamed and every row's column count is checked (one published IR file was short).

The IR/Raman grid starts at 500 cm-1, so the canonical 400-4000 cm-1 range is only partly
covered; spectra carry ``metadata["x_range"]`` and ``metadata["covers_canonical_range"]``
so that preprocessing can decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.base import (
    PathArg,
    build_spectrum,
    check_file,
    clip,
    iter_text_lines,
    resolve_modality,
)
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import Spectrum


def _grid(start: float, stop: float, n: int) -> np.ndarray:
    axis = np.round(np.linspace(start, stop, n), 10)
    axis.setflags(write=False)
    return axis


#: The QM9S grids per modality.
QM9S_AXES: dict[str, np.ndarray] = {
    "ir": _grid(500.0, 4000.0, 3501),
    "raman": _grid(500.0, 4000.0, 3501),
    "uv": _grid(1.0, 15.0, 701),
}
_NAME = re.compile(r"^(ir|raman|uv)[_\-]?(boraden|broaden)", re.IGNORECASE)


def qm9s_file_modality(path: PathArg) -> str | None:
    """Modality told by a QM9S file name (``ir_boraden.csv`` -> ``"ir"``), else ``None``."""
    m = _NAME.match(Path(path).name)
    return m.group(1).lower() if m else None


def _modality(path: Path, first_cells: list[str], modality: str | None) -> str:
    declared = qm9s_file_modality(path)
    if declared is None and len(first_cells) == QM9S_AXES["uv"].size + 1:
        declared = "uv"
    hint = "name the file ir_/raman_/uv_boraden.csv" if declared is None else ""
    mod = resolve_modality(declared, modality, path, hint=hint)
    if mod not in QM9S_AXES:
        raise SpectrumFileError(f"QM9S has no {mod!r} spectra (only ir, raman, uv)", path)
    return mod


def _header_axis(cells: list[str], expected: np.ndarray, path: Path) -> np.ndarray:
    """The grid from a header row: the header's numbers, or the QM9S grid for labels."""
    try:
        values = np.array(cells[1:], dtype=np.float64)
    except ValueError:
        return expected
    if np.array_equal(values, np.arange(values.size)) or np.allclose(values, expected):
        return expected
    steps = np.diff(values)
    if not np.isfinite(values).all() or not ((steps > 0).all() or (steps < 0).all()):
        raise SpectrumFileError("header row: the grid values are not monotonic", path)
    return values


def _row(cells: list[str], number: int, width: int, path: Path) -> tuple[int, np.ndarray]:
    if len(cells) != width:
        raise SpectrumFileError(f"line {number}: {len(cells)} columns, expected {width} "
                                "(molecule index + intensities); the file may be cut", path)
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        bad = next(i for i, c in enumerate(cells) if not _is_number(c))
        raise SpectrumFileError(f"line {number}, column {bad + 1}: {clip(cells[bad])!r} is not a "
                                "number", path) from None
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise SpectrumFileError(f"line {number}, column {bad + 1}: NaN or infinite value",
                                path)
    if values[0] != int(values[0]):
        raise SpectrumFileError(f"line {number}: molecule index {clip(cells[0])!r} is not an "
                                "integer", path)
    return int(values[0]), values[1:]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def iter_qm9s_rows(path: PathArg, modality: str | None = None
                   ) -> Iterator[tuple[str, np.ndarray, int, int, np.ndarray]]:
    """Yield ``(modality, x, line_number, molecule_index, intensities)`` row by row."""
    p = check_file(path)
    x: np.ndarray | None = None
    mod = ""
    width = 0
    for number, text in iter_text_lines(p):
        if not text.strip():
            continue
        if x is not None and text.count(",") + 1 != width:  # before splitting a huge line
            raise SpectrumFileError(f"line {number}: {text.count(',') + 1} columns, expected "
                                    f"{width} (molecule index + intensities); the file may "
                                    "be cut", p)
        cells = [c.strip() for c in text.split(",")]
        if x is None:
            mod = _modality(p, cells, modality)
            expected = QM9S_AXES[mod]
            width = expected.size + 1
            is_header = cells[0] == "" or not all(_is_number(c) for c in cells)
            if is_header:
                if len(cells) != width:
                    raise SpectrumFileError(f"header row: {len(cells)} columns, expected "
                                            f"{width} for QM9S {mod}", p)
                x = _header_axis(cells, expected, p)
                continue
            x = expected
        index, values = _row(cells, number, width, p)
        yield mod, x, number, index, values


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def read_qm9s_matrix(path: PathArg, modality: str | None = None, max_rows: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a QM9S spectra CSV into memory.

    Parameters
    ----------
    path
        ``ir_boraden.csv``, ``raman_boraden.csv`` or ``uv_boraden.csv`` (or "broaden").
    modality
        ``"ir"``, ``"raman"`` or ``"uv"``; needed when the file name does not tell.
    max_rows
        Read at most this many molecules.

    Returns
    -------
    index
        Molecule indices (int64, ``(n,)``).
    x
        The grid (cm-1 or eV, ascending).
    Y
        Intensities, float32 ``(n, len(x))``.

    Raises
    ------
    SpectrumFileError
        Wrong column counts, non-numeric or NaN cells (naming the line), no data rows.
    """
    p = check_file(path)
    # a row holds at least width cells of a character and a comma: no more rows than that
    most = p.stat().st_size // (2 * (QM9S_AXES["uv"].size + 1)) + 1
    capacity = min(_count_lines(p) if max_rows is None else int(max_rows), most)
    index = np.empty(capacity, np.int64)
    Y: np.ndarray | None = None
    grid: np.ndarray | None = None
    n = 0
    for _, x, _, mol, values in iter_qm9s_rows(p, modality):
        if n >= capacity:
            break
        if Y is None:
            Y = np.empty((capacity, values.size), np.float32)
            grid = np.asarray(x)
        index[n], Y[n] = mol, values
        n += 1
    if Y is None or grid is None:
        raise SpectrumFileError("no data rows", p)
    return index[:n], grid, Y[:n]  # views: no second copy of a large matrix


def read_qm9s(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Dispatcher reader: one :class:`Spectrum` per molecule (row), streaming."""
    p = Path(path)
    for mod, x, number, mol, values in iter_qm9s_rows(p, modality):
        canonical = get_modality(mod)
        lo, hi = float(np.min(x)), float(np.max(x))
        meta = {"format": "qm9s-csv", "dataset": "qm9s", "index": mol, "line": number,
                "x_range": (lo, hi),
                "covers_canonical_range": lo <= canonical.x_min and hi >= canonical.x_max}
        x_unit = "eV" if mod == "uv" else "cm-1"
        yield build_spectrum(x, values, mod, x_unit=x_unit, y_unit="arbitrary", metadata=meta,
                             source=p, kind="profile", where=f"line {number}")


def sniff_qm9s(probe: Probe) -> bool:
    """A QM9S file name (``ir_boraden.csv``), or a first row of an empty or numeric cell and
    as many more cells as a QM9S grid has points."""
    first = probe.first_line
    cell = first.split(",", 1)[0].strip().strip('"')
    width = first.count(",") + 1 if "\n" in probe.text and (not cell or cell.isdigit()) else 0
    return bool(qm9s_file_modality(probe.path)) or width in {a.size + 1
                                                             for a in QM9S_AXES.values()}


FORMAT = FormatSpec(
    "qm9s-csv", read_qm9s, "QM9S CSV",
    "the broadened IR, Raman and UV-Vis spectra of QM9S (one CSV per modality)",
    aliases=("qm9s",), sniff=sniff_qm9s, modalities=("ir", "raman", "uv"), dataset=True)
