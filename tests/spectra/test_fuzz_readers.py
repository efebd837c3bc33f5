"""Property tests: mutated spectrum files give mspectmol errors, never crashes.

Valid files of every format the dispatcher reads (JCAMP-DX blocks of each table kind,
DIFDUP-compressed data, NTUPLES and LINK files; CSV/TSV layouts; MGF; MSP; QM9S CSV;
Alberts et al. and mspectmol grid parquet) are generated, then mutated by hypothesis:
truncated, bytes flipped, lines dropped, duplicated or swapped, numbers replaced by garbage,
huge values, NaN or infinities, random text or bytes inserted. Reading a mutant through
:func:`read_spectra` / :func:`read_spectrum` may succeed (every spectrum must then be
finite) or raise a :class:`MspectmolError`; any other exception (IndexError, KeyError,
UnicodeDecodeError, ZeroDivisionError, OverflowError, ...) fails the test. Set
``MSPECTMOL_FUZZ_EXAMPLES`` (default 60 per test) for a longer search.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mspectmol.errors import MspectmolError
from mspectmol.spectra.readers import read_spectra, read_spectrum
from mspectmol.spectra.writers import write_parquet

#: Examples per test; raise MSPECTMOL_FUZZ_EXAMPLES for a deeper (slower) search.
EXAMPLES = int(os.environ.get("MSPECTMOL_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
#: Replacements for a number: garbage, extremes, non-finite spellings, odd digits.
GARBAGE = ["", "x", "abc", "nan", "NaN", "-inf", "inf", "Infinity", "1e999", "-1e999",
           "1e308", "-1.7e308", "1e-330", "9" * 400, "0x1F", "1e", "+-1", "..", "1,5", "1;5",
           "\u0661\u0662", "\ufffd", "#", "##", "=", "@", "A", "j", "%", "S9999999", "\t", "-0"]
_NUMBER = re.compile(rb"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


@st.composite
def mutants(draw: st.DrawFn, template: bytes) -> bytes:
    """``template`` after one to four random mutations."""
    data = template
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "drop", "dup", "swap", "number",
                                   "number", "number", "insert", "line"]))
        lines = _lines(data)
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        pos = draw(st.integers(0, len(data)))
        if op == "truncate":
            data = data[:pos]
        elif op == "flip" and data:
            k = min(pos, len(data) - 1)
            data = data[:k] + bytes([data[k] ^ draw(st.integers(1, 255))]) + data[k + 1:]
        elif op == "drop":
            data = b"\n".join(lines[:i] + lines[i + 1:])
        elif op == "dup":
            data = b"\n".join(lines[:i + 1] + lines[i:])
        elif op == "swap":
            j = draw(st.integers(0, max(len(lines) - 1, 0)))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif op == "number":
            found = list(_NUMBER.finditer(data))
            if found:
                m = found[draw(st.integers(0, len(found) - 1))]
                new = draw(st.one_of(st.sampled_from(GARBAGE),
                                     st.floats().map(repr), st.integers().map(str)))
                data = data[:m.start()] + new.encode("utf-8") + data[m.end():]
        elif op == "insert":
            extra = draw(st.one_of(st.binary(max_size=12), st.text(max_size=12).map(
                lambda t: t.encode("utf-8"))))
            data = data[:pos] + extra + data[pos:]
        else:
            lines[i] = draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
            data = b"\n".join(lines)
    return data


def read_all(path: Path, modality: str | None = None, fmt: str | None = None) -> None:
    """Read ``path`` both ways; only mspectmol errors may escape (and are swallowed)."""
    try:
        for spectrum in read_spectra(path, modality, format=fmt):
            assert np.isfinite(spectrum.x).all() and np.isfinite(spectrum.y).all()
    except MspectmolError:
        pass
    try:
        read_spectrum(path, modality, format=fmt)
    except MspectmolError:
        pass


def check_mutant(tmp_path: Path, name: str, data: bytes, modality: str | None,
                 fmt: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    read_all(path, modality)
    read_all(path, modality, fmt)


def jcamp_templates(jcamp: Callable[..., str], difdup: Callable[..., list[str]]
                    ) -> dict[str, str]:
    xs = [400.0 + 2 * i for i in range(16)]
    ys = [100, 101, 102, 102, 102, 90, -5, -5, -5, -5, -5, 0, 1234, 7, 7, 3]
    ms = jcamp(x=[28.0, 44.0, 45.5], y=[50, 100, 3], table="peaks", data_type="MASS SPECTRUM",
               xunits="M/Z", yunits="RELATIVE ABUNDANCE")
    ntuples = "\n".join([
        "##TITLE=ntuples", "##JCAMP-DX=5.00", "##DATA TYPE=NMR SPECTRUM",
        "##DATA CLASS=NTUPLES", "##.OBSERVE FREQUENCY=100.0", "##.OBSERVE NUCLEUS=^13C",
        "##NTUPLES=NMR SPECTRUM", "##VAR_NAME=FREQUENCY, SPECTRUM/REAL, SPECTRUM/IMAG, PAGE",
        "##SYMBOL=X, R, I, N", "##VAR_TYPE=INDEPENDENT, DEPENDENT, DEPENDENT, PAGE",
        "##VAR_FORM=AFFN, ASDF, ASDF, AFFN", "##VAR_DIM=4, 4, 4, 2",
        "##UNITS=HZ, ARBITRARY UNITS, ARBITRARY UNITS,", "##FIRST=20000.0, 1, 0, 1",
        "##LAST=5000.0, 4, 0, 2", "##FACTOR=1, 0.5, 0.5, 1", "##PAGE=N=1",
        "##DATA TABLE=(X++(R..R)), XYDATA", "20000 2 4", "10000 6 8", "##PAGE=N=2",
        "##DATA TABLE=(X++(I..I)), XYDATA", "20000 0 0", "10000 0 0",
        "##END NTUPLES=NMR SPECTRUM", "##END="]) + "\n"
    return {
        "xydata": jcamp(x=xs, y=ys, xfactor=2.0, yfactor=0.25),
        "difdup": jcamp(x=xs, y=ys, data_lines=difdup(xs, ys, per_line=5), yfactor=0.5),
        "xypoints": jcamp(x=[400.0, 410.0, 430.0], y=[1, 2, 3], table="xypoints"),
        "peaks": ms,
        "nmr_hz": jcamp(x=[4000.0, 2000.0, 0.0], y=[1, 5, 2], data_type="NMR SPECTRUM",
                        xunits="HZ", extra=["##.OBSERVE FREQUENCY=400.0",
                                            "##.OBSERVE NUCLEUS=^1H",
                                            "##.SHIFT REFERENCE=INTERNAL, CDCl3, 3, 1.0"]),
        "ntuples": ntuples,
        "link": ("##TITLE=compound\n##JCAMP-DX=4.24\n##DATA TYPE=LINK\n##BLOCKS=2\n"
                 + jcamp(title="ir", x=[400.0, 500.0], y=[1, 2]) + ms + "##END=\n"),
    }


@pytest.mark.parametrize("kind", ["xydata", "difdup", "xypoints", "peaks", "nmr_hz",
                                  "ntuples", "link"])
@FUZZ
@given(data=st.data())
def test_jcamp_mutants(tmp_path, jcamp, difdup, kind, data):
    template = jcamp_templates(jcamp, difdup)[kind].encode()
    check_mutant(tmp_path, "x.jdx", data.draw(mutants(template)), None, "jcamp")


DELIMITED = {
    "csv": ("s.csv", "ir", "wavenumber (cm-1),absorbance\n400,0.1\n410,0.5\n420,1e-3\n"
                           "430,0.25\n"),
    "tsv": ("s.tsv", "h_nmr", "ppm\tintensity\n0.5\t1\n1.5\t2\n2.5\t0\n"),
    "semicolon": ("s.csv", None, "m/z;intensity\n10,5;3\n20;4,25\n"),
    "headerless": ("s.txt", "c_nmr", "10 2\n20 3\n30 4\n"),
    "comment": ("s.csv", None, "# modality: raman\n# x_unit: cm-1\ncm-1,a,b\n400,1,2\n"
                               "500,2,3\n"),
    "wide": ("w.csv", None, '# x_unit: cm-1\nname,modality,400,500,600\n"b, 1,2-d",ir,1,2,3\n'
                            "b,ir,4,5,6\n"),
    "hz": ("h.csv", "h_nmr", "# observe_mhz: 500\nHz,intensity\n500,1\n1000,2\n"),
}


@pytest.mark.parametrize("kind", list(DELIMITED))
@FUZZ
@given(data=st.data())
def test_delimited_mutants(tmp_path, kind, data):
    name, modality, text = DELIMITED[kind]
    check_mutant(tmp_path, name, data.draw(mutants(text.encode())), modality, "delimited")


MGF = ("BEGIN IONS\nTITLE=a\nPEPMASS=47.049 1000\nCHARGE=1+\nSMILES=CCO\nIONMODE=positive\n"
       "COLLISION_ENERGY=40\nRTINSECONDS=12.5\n29.0391 100\n31.0184 45.5\nEND IONS\n\n"
       "BEGIN IONS\nTITLE=b\nPEPMASS=60.5\n15 1\nEND IONS\n")
MSP = ("Name: A\nPrecursor_type: [M+H]+\nPrecursorMZ: 181.0707\nIon_mode: P\n"
       "Collision_energy: 20\nComments: \"SMILES=CC(=O)O\"\nNum Peaks: 3\n"
       "121.0284 100; 139.0390 35.5;\n93.0335 12 \"annotation\"\n\n"
       "NAME: B\nPRECURSORMZ: 100\nNum peaks: 1\n50 999\n")


@pytest.mark.parametrize(("name", "text", "fmt"), [("a.mgf", MGF, "mgf"),
                                                   ("a.msp", MSP, "msp")])
@FUZZ
@given(data=st.data())
def test_mgf_and_msp_mutants(tmp_path, name, text, fmt, data):
    check_mutant(tmp_path, name, data.draw(mutants(text.encode())), None, fmt)


@FUZZ
@given(data=st.data())
def test_qm9s_mutants(tmp_path, qm9s_csv, data):
    template = qm9s_csv("uv_boraden.csv", n_points=701, rows=2).read_bytes()
    check_mutant(tmp_path, "uv_boraden.csv", data.draw(mutants(template)), None, "qm9s")


@st.composite
def byte_mutants(draw: st.DrawFn, template: bytes) -> bytes:
    """Binary damage only: truncation and flipped bytes (line edits mean nothing here)."""
    data = template
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data = data[:pos]
        elif data:
            data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]
        if not data:
            break
    return data


@pytest.mark.parametrize("kind", ["alberts", "grid"])
@settings(FUZZ, max_examples=max(EXAMPLES // 2, 1))
@given(data=st.data())
def test_parquet_mutants(tmp_path, alberts_parquet, kind, data):
    if kind == "alberts":
        template, modality = alberts_parquet(n=2).read_bytes(), "ir"
    else:
        path = write_parquet(tmp_path / "grid.parquet", np.linspace(400, 4000, 8),
                             np.arange(16.0).reshape(2, 8), "ir", names=["a", "b"])
        template, modality = path.read_bytes(), None
    path = tmp_path / "m.parquet"
    path.write_bytes(data.draw(byte_mutants(template)))
    read_all(path, modality)


def test_mutants_strategy_changes_the_template():
    """The strategy really mutates (guards against a fuzz run that tests nothing)."""
    template = MGF.encode()

    @settings(max_examples=30, deadline=None, database=None)
    @given(mutants(template))
    def record(mutant: bytes) -> None:
        seen.append(mutant)

    seen: list[bytes] = []
    record()
    assert sum(m != template for m in seen) >= 20
