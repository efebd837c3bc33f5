"""The dispatcher: format detection by extension and content, eager errors, read_spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.errors import SpectrumFileError, UnknownModalityError
from mspectmol.spectra.readers import (
    detect_format,
    format_names,
    read_spectra,
    read_spectrum,
)
from mspectmol.spectra.writers import write_parquet

MGF = "BEGIN IONS\nTITLE=a\nPEPMASS=100\n10 1\nEND IONS\n"
MSP = "Name: a\nNum Peaks: 1\n10 1\n"


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("a.jdx", None, "jcamp"),
    ("a.txt", None, "jcamp"),           # JCAMP text behind a .txt extension
    ("a.dat", None, "jcamp"),
    ("a.txt", MGF, "mgf"),
    ("a.mgf", MGF, "mgf"),
    ("a.txt", MSP, "msp"),
    ("a.csv", "ppm,intensity\n1,2\n", "delimited"),
    ("a.spc", "400\t0.5\n402\t0.6\n", "delimited"),
    ("ir_boraden.csv", ",500\n0,1\n", "qm9s-csv"),
])
def test_detect_text_formats(write_file, jcamp, name, content, expected):
    path = write_file(name, jcamp() if content is None else content)
    assert detect_format(path) == expected
    assert expected in format_names()


def test_detect_parquet_and_directories(alberts_parquet, tmp_path):
    assert detect_format(alberts_parquet("d/a.parquet", n=1)) == "alberts-parquet"
    assert detect_format(tmp_path / "d") == "alberts-parquet"
    grid = write_parquet(tmp_path / "g.parquet", [1.0, 2.0], [[3.0, 4.0]], "uv")
    assert detect_format(grid) == "mspectmol-parquet"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpectrumFileError, match=r"empty.*no known layout.*\*\.parquet"):
        detect_format(tmp_path / "empty")


@pytest.mark.parametrize(("name", "content", "match"), [
    ("junk.bin", bytes(range(256)) * 4, "binary"),
    ("junk.jdx", b"\x00\x01\x02junk", "binary"),
    ("fake.parquet", "hello", "no PAR1"),
    ("cut.parquet", b"PAR1\x00\x00\x00", "truncated or corrupt"),
    ("notes.md", "hello world\nthis is prose\n", "unknown spectrum file format"),
    ("empty.csv", "", "empty"),
])
def test_detect_errors_name_the_file(write_file, name, content, match):
    path = write_file(name, content)
    with pytest.raises(SpectrumFileError, match=f"{name}.*{match}"):
        detect_format(path)


def test_read_spectra_checks_eagerly(write_file, jcamp, tmp_path):
    path = write_file("a.jdx", jcamp())
    with pytest.raises(SpectrumFileError, match="missing.jdx.*not found"):
        read_spectra(tmp_path / "missing.jdx")
    with pytest.raises(SpectrumFileError, match="a.jdx.*unknown format 'pdf'"):
        read_spectra(path, format="pdf")
    with pytest.raises(UnknownModalityError, match="unknown modality 'xray'"):
        read_spectra(path, "xray")


def test_format_override_and_aliases(write_file):
    path = write_file("spectrum.out", "ppm intensity\n1 2\n3 4\n")
    s = read_spectrum(path, "c_nmr", format="csv")
    np.testing.assert_array_equal(s.y, [2.0, 4.0])
    assert read_spectrum(path, "13C", format="delimited").modality == "c_nmr"


def test_read_spectrum_exactly_one(write_file, jcamp, tmp_path):
    one = read_spectrum(write_file("one.jdx", jcamp(x=[1.0, 2.0], y=[5, 6])))
    np.testing.assert_array_equal(one.y, [5.0, 6.0])
    two = write_file("two.mgf", MGF + MGF)
    assert len(list(read_spectra(two))) == 2
    with pytest.raises(SpectrumFileError, match="two.mgf.*several spectra"):
        read_spectrum(two)
    empty = write_parquet(tmp_path / "none.parquet", [1.0, 2.0], np.zeros((0, 2)), "uv")
    with pytest.raises(SpectrumFileError, match="none.parquet.*no spectrum"):
        read_spectrum(empty)


def test_streaming_reads_only_what_is_consumed(write_file):
    # the second record is broken, but taking only the first spectrum must work
    broken = MGF + "BEGIN IONS\nTITLE=b\n10 x\nEND IONS\n"
    first = next(read_spectra(write_file("s.mgf", broken)))
    assert first.metadata["title"] == "a"
