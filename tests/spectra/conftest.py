"""Fixture generators for the reader and writer tests: tiny files written into tmp_path.

Nothing here is copied from real spectra: JCAMP-DX text, compressed (DIFDUP) data lines,
MGF/MSP records, Alberts-style parquet chunks and QM9S-style CSVs are generated from
numbers chosen in the tests, so every expected value is known exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

_SQZ_POS = "@ABCDEFGHI"
_SQZ_NEG = "@abcdefghi"
_DIF_POS = "%JKLMNOPQR"
_DIF_NEG = "%jklmnopqr"
_DUP = "STUVWXYZs"


def _pseudo(value: int, pos: str, neg: str) -> str:
    """An integer with its first digit (and sign) replaced by a pseudo-digit."""
    digits = str(abs(value))
    table = neg if value < 0 else pos
    return table[int(digits[0])] + digits[1:]


def _dup(count: int) -> str:
    digits = str(count)
    return _DUP[int(digits[0]) - 1] + digits[1:]


def encode_difdup(x_values: Sequence[float], y_values: Sequence[int], per_line: int = 6
                  ) -> list[str]:
    """DIFDUP lines (JCAMP-DX ASDF) for integer ordinates, with Y-check values.

    Each line is ``X`` then the first ordinate in SQZ form and the rest as DIF differences,
    runs of equal differences compressed with DUP; each following line repeats the last
    ordinate of the previous line (the Y-check).
    """
    lines = []
    i = 0
    n = len(y_values)
    while i < n:
        start = i if i == 0 else i - 1  # the Y-check value repeats the previous ordinate
        chunk = list(y_values[start:i + per_line])
        text = f"{x_values[start]:g}" + _pseudo(chunk[0], _SQZ_POS, _SQZ_NEG)
        diffs = [b - a for a, b in zip(chunk, chunk[1:], strict=False)]
        k = 0
        while k < len(diffs):
            run = 1
            while k + run < len(diffs) and diffs[k + run] == diffs[k]:
                run += 1
            text += _pseudo(diffs[k], _DIF_POS, _DIF_NEG) + (_dup(run) if run > 1 else "")
            k += run
        lines.append(text)
        i += per_line if i == 0 else per_line
    return lines


def jcamp_text(*, x: Sequence[float] = (400.0, 402.0, 404.0), y: Sequence[float] = (1, 2, 3),
               title: str = "test spectrum", data_type: str = "INFRARED SPECTRUM",
               xunits: str = "1/CM", yunits: str = "ABSORBANCE", table: str = "xydata",
               data_lines: Sequence[str] | None = None, extra: Sequence[str] = (),
               xfactor: float = 1.0, yfactor: float = 1.0, npoints: int | None = None,
               end: bool = True) -> str:
    """A JCAMP-DX block as text.

    ``table`` is ``"xydata"`` (X++(Y..Y), one value per line after X), ``"peaks"`` (PEAK
    TABLE (XY..XY)) or ``"xypoints"``; ``data_lines`` replaces the generated data lines;
    ``x``/``y`` are written divided by the factors.
    """
    head = [f"##TITLE={title}", "##JCAMP-DX=4.24", f"##DATA TYPE={data_type}",
            "##ORIGIN=mspectmol tests", "##OWNER=public domain", *extra,
            f"##XUNITS={xunits}", f"##YUNITS={yunits}", f"##XFACTOR={xfactor:g}",
            f"##YFACTOR={yfactor:g}", f"##FIRSTX={x[0]:g}", f"##LASTX={x[-1]:g}",
            f"##NPOINTS={len(y) if npoints is None else npoints}"]
    if data_lines is None:
        if table == "xydata":
            data_lines = [f"{xv / xfactor:g} {yv / yfactor:g}" for xv, yv in zip(x, y, strict=True)]
        else:
            data_lines = [f"{xv / xfactor:g},{yv / yfactor:g}" for xv, yv in zip(x, y, strict=True)]
    label = {"xydata": "##XYDATA=(X++(Y..Y))", "peaks": "##PEAK TABLE=(XY..XY)",
             "xypoints": "##XYPOINTS=(XY..XY)"}[table]
    return "\n".join([*head, label, *data_lines, *(["##END="] if end else [])]) + "\n"


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write text or bytes to ``tmp_path / name`` and return the path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def jcamp() -> Callable[..., str]:
    """:func:`jcamp_text`."""
    return jcamp_text


@pytest.fixture
def difdup() -> Callable[..., list[str]]:
    """:func:`encode_difdup`."""
    return encode_difdup


def alberts_table(n: int = 3, *, generation: str = "cfmid", ir_length: int = 1800,
                  seed: int = 0, nan_row: int | None = None) -> dict[str, list]:
    """Columns of a tiny Alberts-style table with known values.

    Molecule ``i`` has its IR maximum at index ``100 * (i + 1)``, its 1H peak at index
    ``1000 * (i + 1)`` and its 13C peak at index ``2000 * (i + 1)``; MS/MS column
    ``{prefix}_positive_40ev`` of molecule ``i`` holds ``[[50 + i, 100], [75.5, 20 + i]]``.
    """
    rng = np.random.default_rng(seed)
    smiles = ["CCO", "c1ccccc1", "CC(=O)O", "CCN", "C=C", "CC#N"][:n]
    ir, h, c = [], [], []
    for i in range(n):
        v = rng.uniform(0, 0.1, ir_length).astype(np.float32)
        v[100 * (i + 1)] = 1.0
        if nan_row == i:
            v[5] = np.nan
        ir.append(v.tolist())
        hv = np.zeros(10000, np.float32)
        hv[1000 * (i + 1)] = 2.0
        h.append(hv.tolist())
        cv = np.zeros(10000)
        cv[2000 * (i + 1)] = 3.0
        c.append(cv.tolist())
    prefix = "msms_cfmid" if generation == "cfmid" else "msms"
    table = {"smiles": smiles, "molecular_formula": ["X"] * n, "ir_spectra": ir,
             "h_nmr_spectra": h, "c_nmr_spectra": c,
             "hsqc_nmr_spectrum": [[[0.0, 1.0], [1.0, 0.0]] for _ in range(n)]}
    for mode in ("positive", "negative"):
        for energy in (10, 20, 40):
            table[f"{prefix}_{mode}_{energy}ev"] = [
                [[50.0 + i, 100.0], [75.5, 20.0 + i + energy / 10]] for i in range(n)]
    return table


@pytest.fixture
def alberts_parquet(tmp_path: Path) -> Callable[..., Path]:
    """Write :func:`alberts_table` to a parquet file (two row groups when n > 2)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def make(name: str = "chunk.parquet", n: int = 3, **kw: object) -> Path:
        data = alberts_table(n, **kw)
        schema = {"ir_spectra": pa.list_(pa.float32()), "h_nmr_spectra": pa.list_(pa.float32()),
                  "c_nmr_spectra": pa.list_(pa.float64())}
        table = pa.table({k: pa.array(v, type=schema.get(k)) for k, v in data.items()})
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=2)
        return path

    return make


@pytest.fixture
def qm9s_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a QM9S-style CSV: header (empty cell + grid) and rows ``index, values``.

    Row ``k`` (molecule index ``10 + k``) is ``0.5`` everywhere except ``k + 1`` at grid
    position ``k``.
    """

    def make(name: str = "ir_boraden.csv", n_points: int = 3501, rows: int = 2,
             header: bool = True, grid: Sequence[float] | None = None,
             edit: Callable[[list[list[str]]], None] | None = None) -> Path:
        if grid is None:
            grid = np.round(np.linspace(500.0, 4000.0, n_points), 10) if n_points == 3501 \
                else np.round(np.linspace(1.0, 15.0, n_points), 10)
        lines = [[""] + [f"{g:g}" for g in grid]] if header else []
        for k in range(rows):
            values = ["0.5"] * n_points
            values[k] = str(k + 1)
            lines.append([str(10 + k), *values])
        if edit is not None:
            edit(lines)
        path = tmp_path / name
        path.write_text("\n".join(",".join(line) for line in lines) + "\n")
        return path

    return make
