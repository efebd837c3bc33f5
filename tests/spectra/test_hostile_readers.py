"""Hostile and unlucky input: bounded decoding, long lines, special files, UTF-16/32 text.

Every fixture is built here in ``tmp_path`` (a few KB, a few MB for the long lines). The
cases that used to exhaust memory or hang run ``mspectmol convert`` in a subprocess under
``RLIMIT_AS`` and a timeout, so a regression fails fast instead of taking the machine: the
command must end with exit status 2, one ``ERROR:`` line and no traceback, within 5 s and
under 500 MB of peak resident memory. The other limits are lowered with monkeypatch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers import (
    asdf,
    base,
    bruker,
    jcamp,
    jcamp_blocks,
    mgf,
    msp,
    read_spectra,
    read_spectrum,
)
from mspectmol.spectra.readers.asdf import TooManyValuesError, decode_line, decode_xydata
from mspectmol.spectra.readers.base import MAX_LINE_BYTES, iter_text_lines
from mspectmol.spectra.readers.qm9s import read_qm9s_matrix
from mspectmol.spectra.writers import write_csv

#: Virtual address space allowed to the subprocess: a plain ``convert`` run needs about
#: 0.6 GB of it (about 150 MB resident); the DUP bomb used to grow by 200 MB/s.
_ADDRESS_SPACE = 1536 << 20
_PEAK_RSS_MB = 500
_SECONDS = 5.0
_RUNNER = """
import atexit, json, os, resource, runpy, sys, time
limit = int(os.environ["HOSTILE_AS"])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
start = time.perf_counter()
def peak_mb():
    # VmHWM belongs to this process image; ru_maxrss would include the forking parent's
    # size (Linux keeps it across exec), which a large test process makes meaningless
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def report():
    with open(os.environ["HOSTILE_REPORT"], "w") as handle:
        json.dump({"seconds": time.perf_counter() - start, "peak_mb": peak_mb()}, handle)
atexit.register(report)
sys.argv = ["mspectmol", *sys.argv[1:]]
runpy.run_module("mspectmol", run_name="__main__")
"""

HEAD = ["##TITLE=hostile", "##JCAMP-DX=4.24", "##DATA TYPE=INFRARED SPECTRUM",
        "##XUNITS=1/CM", "##YUNITS=ABSORBANCE", "##XFACTOR=1", "##YFACTOR=1",
        "##FIRSTX=400", "##LASTX=4000"]


def _jdx(data: list[str], npoints: int | None = 1801, table: str = "##XYDATA=(X++(Y..Y))",
         head: list[str] = HEAD) -> str:
    count = [] if npoints is None else [f"##NPOINTS={npoints}"]
    return "\n".join([*head, *count, table, *data, "##END="]) + "\n"


def _ntuples(data: str) -> str:
    return "\n".join([
        "##TITLE=nt", "##JCAMP-DX=5.01", "##DATA TYPE=NMR SPECTRUM", "##DATA CLASS=NTUPLES",
        "##.OBSERVE FREQUENCY=400", "##.OBSERVE NUCLEUS=^1H", "##NTUPLES=NMR SPECTRUM",
        "##VAR_NAME=FREQUENCY,SPECTRUM/REAL,PAGE NUMBER", "##SYMBOL=X,R,N",
        "##VAR_TYPE=INDEPENDENT,DEPENDENT,PAGE", "##VAR_FORM=AFFN,ASDF,AFFN",
        "##VAR_DIM=16,16,1", "##UNITS=HZ,ARBITRARY UNITS,", "##FIRST=4000,1,", "##LAST=0,16,",
        "##FACTOR=1,1,", "##PAGE=N=1", "##DATA TABLE=(X++(R..R)), XYDATA", data,
        "##END NTUPLES=NMR SPECTRUM", "##END="]) + "\n"


def _long_line(path: Path, prefix: str, cell: str, size: int, suffix: str = "") -> Path:
    """Write ``prefix``, one line of ``cell`` repeated to ``size`` bytes, ``suffix``."""
    with open(path, "w", encoding="ascii") as handle:
        handle.write(prefix)
        chunk = cell * (65536 // len(cell))
        for _ in range(size // len(chunk) + 1):
            handle.write(chunk)
        handle.write("\n" + suffix)
    return path


def _bomb(tmp: Path) -> Path:
    pad = [f"$$ padding comment {i} of a small hostile file" for i in range(50)]
    path = tmp / "bomb.jdx"
    path.write_text(_jdx([*pad, "400A0Js99999999999"]))
    assert path.stat().st_size < 4096
    return path


def _ntuples_bomb(tmp: Path) -> Path:
    path = tmp / "nt.jdx"
    path.write_text(_ntuples("4000A0Js99999999999"))
    return path


def _long_csv(tmp: Path) -> Path:
    return _long_line(tmp / "wide.csv", "", "400.5,1.25,", MAX_LINE_BYTES + (2 << 20))


def _long_jdx(tmp: Path) -> Path:
    text = _jdx(["@@"])
    before, after = text.split("@@\n")
    return _long_line(tmp / "long.jdx", before + "400", " 12", MAX_LINE_BYTES + (2 << 20),
                      after)


def _redos(tmp: Path) -> Path:
    path = tmp / "redos.jdx"
    path.write_text(_jdx(["400 " + "1" * 60 + "x"]))
    return path


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.csv"
    os.mkfifo(path)
    return path


def _run_convert(path: Path, tmp: Path) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp / "report.json"
    env = {**os.environ, "HOSTILE_AS": str(_ADDRESS_SPACE), "HOSTILE_REPORT": str(report),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MALLOC_ARENA_MAX": "2"}
    done = subprocess.run([sys.executable, "-c", _RUNNER, "convert", str(path), "-o",
                           str(tmp / "out.csv"), "-m", "ir"], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp)
    return done, json.loads(report.read_text()) if report.exists() else {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS, mkfifo: Linux")
@pytest.mark.parametrize(("make", "match"), [
    (_bomb, r"line 62: the repeat count \(DUP\) 's99999999999' makes more than 2825 values, "
            r"but ##NPOINTS=1801"),
    (_ntuples_bomb, r"NTUPLES: line 19: the data tables decode to more than"),
    (_long_csv, r"line 1 is longer than 4 MiB"),
    (_long_jdx, r"line 12 is longer than 4 MiB"),
    (_redos, r"line 12: cannot read data line '400 1111.*\.\.\.' \(not numbers\)"),
    (_fifo, r"a named pipe \(FIFO\), not a regular file"),
], ids=["dup-bomb", "ntuples-dup-bomb", "long-csv-line", "long-jcamp-line", "regex-backtracking",
        "fifo"])
def test_cli_refuses_hostile_file_fast_and_small(tmp_path, make, match):
    path = make(tmp_path)
    done, used = _run_convert(path, tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(f"ERROR: {path}: ")
    assert len(lines[0]) < 400
    import re

    assert re.search(match, lines[0]), lines[0]
    assert used["seconds"] < _SECONDS, used
    assert used["peak_mb"] < _PEAK_RSS_MB, used


# --- ASDF decoding: repeat counts are checked before they are expanded ----------------------

def test_decode_line_checks_repeat_count_before_expanding():
    start = time.perf_counter()
    with pytest.raises(TooManyValuesError, match=r"repeat count \(DUP\) 's99999999999'"):
        decode_line("400A0Js99999999999")
    with pytest.raises(TooManyValuesError, match="more than 10 values"):
        decode_line("400A0JT%s1000", max_values=10)
    with pytest.raises(TooManyValuesError, match=r"'s9{39}\.\.\.' makes more than"):
        decode_line("400A0J" + "s" + "9" * 5000)
    with pytest.raises(TooManyValuesError, match="the data makes more than 4 values"):
        decode_line("400 1 2 3 4", max_values=4)
    assert time.perf_counter() - start < 1.0
    assert decode_line("400A0JT", max_values=4) == ([400.0, 10.0, 11.0, 12.0], True)
    assert decode_line("400A0T", max_values=4) == ([400.0, 10.0, 10.0], False)


def test_decode_line_clips_long_text_in_errors():
    with pytest.raises(ValueError) as info:
        decode_line("400A" + "1." * 50000)
    assert len(str(info.value)) < 200 and "is not a number" in str(info.value)


def test_decode_xydata_stops_at_max_values():
    lines = [(10, "400A0JJ"), (11, "402A2Js9999")]
    with pytest.raises(TooManyValuesError, match=r"line 11: the repeat count.*more than 50"):
        decode_xydata(lines, 400.0, 1.0, max_values=50)
    ys, _ = decode_xydata([(10, "400A0JJ"), (11, "402A2J")], 400.0, 1.0, max_values=5)
    assert list(ys) == [10.0, 11.0, 12.0, 13.0]


def test_affn_count_is_linear_and_strict():
    start = time.perf_counter()
    assert asdf.affn_count("400 " + "1" * 5000 + "x") is None
    assert asdf.affn_count("1" * 100000 + "e") is None
    assert time.perf_counter() - start < 1.0
    assert asdf.affn_count("400 1,2;3 -4.5E-3 +6") == 6
    assert asdf.affn_count("1.5.5") == 2
    assert asdf.affn_count(" , ; ") is None


def test_count_values_reads_repeat_counts_without_expanding():
    assert asdf.count_values("4000A0Js99999999999") == 3 + 999999999999  # s is the 9
    assert asdf.count_values("4000A0J" + "s" + "9" * 100) == 3 + 10 ** 15
    assert asdf.count_values("4000 1 2 3") == 4


# --- JCAMP-DX ---------------------------------------------------------------------------------

def test_jcamp_dup_bomb_names_file_line_and_count(tmp_path):
    path = tmp_path / "b.jdx"
    path.write_text(_jdx(["400A0Js99999999999"], npoints=3))
    with pytest.raises(SpectrumFileError, match=r"b\.jdx: block 'hostile' at line 1, line 12: "
                       r"the repeat count \(DUP\) 's99999999999' makes more than 1027 values, "
                       r"but ##NPOINTS=3"):
        read_spectrum(path)


def test_jcamp_npoints_above_max_points(tmp_path):
    path = tmp_path / "n.jdx"
    path.write_text(_jdx(["400 1 2"], npoints=base.MAX_POINTS + 1))
    with pytest.raises(SpectrumFileError, match=r"##NPOINTS=2097153 is more than the 2,097,152"):
        read_spectrum(path)


def test_jcamp_small_excess_keeps_exact_count(tmp_path):
    path = tmp_path / "e.jdx"
    path.write_text(_jdx(["400 " + " ".join(["1"] * 10)], npoints=3))
    with pytest.raises(SpectrumFileError, match="10 values but ##NPOINTS=3"):
        read_spectrum(path)


def test_jcamp_affn_values_counted_before_the_package(tmp_path):
    path = tmp_path / "a.jdx"
    path.write_text(_jdx(["400 " + " ".join(["1"] * 5000)], npoints=3))
    with pytest.raises(SpectrumFileError, match=r"line 12: more than 1027 values \(##NPOINTS=3\)"):
        read_spectrum(path)


def test_jcamp_data_lines_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "MAX_POINTS", 100)
    head = [h.replace("INFRARED SPECTRUM", "MASS SPECTRUM").replace("1/CM", "M/Z")
            for h in HEAD if not h.startswith(("##FIRSTX", "##LASTX"))]
    path = tmp_path / "p.jdx"
    path.write_text(_jdx(["1,1"] * 500, npoints=None, table="##PEAK TABLE=(XY..XY)",
                         head=head))
    with pytest.raises(SpectrumFileError, match=r"line 110: .* more than 101 data lines "
                       r"\(no ##NPOINTS"):
        read_spectrum(path)
    path.write_text(_jdx(["400 1"] * 500, npoints=3))
    with pytest.raises(SpectrumFileError, match=r"more than 101 data lines \(##NPOINTS=3"):
        read_spectrum(path)


def test_jcamp_header_bounds(tmp_path, monkeypatch):
    path = tmp_path / "h.jdx"
    path.write_text("##TITLE=a\n" * (jcamp_blocks.MAX_DEPTH + 1))
    with pytest.raises(SpectrumFileError, match=r"line 33: blocks nested more than 32 deep"):
        read_spectrum(path)
    notes = [f"note {i}" for i in range(50000)]
    path.write_text(_jdx(["400 1 2 3"], npoints=3).replace("##XFACTOR=1",
                                                           "##COMMENTS=x\n" + "\n".join(notes)
                                                           + "\n##XFACTOR=1"))
    text = path.read_text().replace("##LASTX=4000", "##LASTX=404")
    path.write_text(text)
    start = time.perf_counter()
    spec = read_spectrum(path)
    assert time.perf_counter() - start < 5.0
    assert spec.metadata["jcamp_header"]["COMMENTS"] == "\n".join(["x", *notes])
    monkeypatch.setattr(jcamp_blocks, "MAX_HEADER_BYTES", 10000)
    with pytest.raises(SpectrumFileError, match=r"the header of block 'hostile' at line 1 is "
                       r"longer than"):
        read_spectrum(path)


def test_jcamp_ntuples_repeat_count_refused_before_nmrglue(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr("nmrglue.fileio.jcampdx.read", lambda *a: called.append(a))
    path = tmp_path / "nt.jdx"
    path.write_text(_ntuples("4000A0Js99999999999"))
    with pytest.raises(SpectrumFileError, match=r"nt\.jdx: NTUPLES: line 19: .*more than "
                       r"4,194,304 values"):
        read_spectrum(path)
    assert not called
    path.write_bytes(_ntuples("4000A0JJJ").encode("utf-16"))
    with pytest.raises(SpectrumFileError, match=r"NTUPLES: UTF-16 text.*save the file as UTF-8"):
        read_spectrum(path)
    assert jcamp.MAX_POINTS == base.MAX_POINTS


def test_long_values_are_clipped_in_errors(tmp_path):
    path = tmp_path / "n.jdx"
    text = _jdx(["400 1 2 3"], npoints=3)
    path.write_text(text.replace("##NPOINTS=3", "##NPOINTS=" + "x" * 9999))
    with pytest.raises(SpectrumFileError) as info:
        read_spectrum(path)
    assert "is not a number" in str(info.value) and len(str(info.value)) < 300


# --- long lines -------------------------------------------------------------------------------

def test_iter_text_lines_refuses_long_line_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "a.txt"
    path.write_text("a" * 1000 + "\n" + "b" * 1001 + "\n")
    lines = iter_text_lines(path)
    assert next(lines) == (1, "a" * 1000)
    with pytest.raises(SpectrumFileError, match=r"a\.txt: line 2 is longer than 1,000 bytes"):
        next(lines)
    assert [n for n, _ in iter_text_lines(path, max_line=2000)] == [1, 2]


@pytest.mark.parametrize(("name", "text"), [
    ("l.csv", "wavenumber (cm-1),absorbance\n400,1\n" + "4" * 3000 + ",2\n"),
    ("l.jdx", _jdx(["400 1 2 3", "400 " + "1" * 3000], npoints=3)),
    ("l.msp", "Name: a\nNum Peaks: 2\n10 1\n20 " + "5" * 3000 + "\n"),
    ("l.mgf", "BEGIN IONS\nTITLE=a\n10 1\n20 " + "5" * 3000 + "\nEND IONS\n"),
])
def test_every_text_reader_bounds_lines(tmp_path, monkeypatch, name, text):
    monkeypatch.setattr(base, "MAX_LINE_BYTES", 2048)
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpectrumFileError, match=rf"{name}: line \d+ is longer than 2,048 "):
        list(read_spectra(path, "ms" if name.endswith(("msp", "mgf")) else "ir"))


def test_wide_csv_rows_of_legitimate_size_are_read(tmp_path):
    n = 20000
    x = np.linspace(400.0, 4000.0, n)
    y = np.random.default_rng(0).random((2, n))
    path = write_csv(tmp_path / "wide.csv", x, y, "ir")
    assert max(len(line) for line in path.read_text().splitlines()) > 200_000
    spectra = list(read_spectra(path))
    assert len(spectra) == 2 and spectra[1].x.size == n
    np.testing.assert_allclose(spectra[1].y, y[1])


# --- special files ----------------------------------------------------------------------------

def test_symlink_loop_and_broken_link(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    with pytest.raises(SpectrumFileError, match=r"a\.csv: symbolic link loop"):
        read_spectrum(tmp_path / "a.csv")
    (tmp_path / "c.csv").symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(SpectrumFileError, match=r"c\.csv: broken symbolic link"):
        read_spectrum(tmp_path / "c.csv")
    with pytest.raises(SpectrumFileError, match=r"nowhere\.csv: file not found"):
        read_spectrum(tmp_path / "nowhere.csv")


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_device_is_not_a_regular_file():
    with pytest.raises(SpectrumFileError, match=r"/dev/null: a character device, not a regular"):
        read_spectrum("/dev/null")


def test_fifo_refused_without_opening_it(tmp_path):
    pipe = _fifo(tmp_path)
    with pytest.raises(SpectrumFileError, match=r"pipe\.csv: a named pipe \(FIFO\)"):
        base.check_file(pipe)  # opening it would block: the check must not


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_permission_denied_real(tmp_path, write_file):
    path = write_file("locked.csv", "ppm,intensity\n1,2\n3,4\n")
    path.chmod(0)
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0)
    try:
        with pytest.raises(SpectrumFileError, match=r"locked\.csv: permission denied"):
            read_spectrum(path)
        with pytest.raises(SpectrumFileError, match=r"locked: permission denied"):
            read_spectrum(folder)
    finally:
        path.chmod(0o600)
        folder.chmod(0o700)


def test_permission_denied_simulated(write_file, monkeypatch):
    path = write_file("locked.csv", "ppm,intensity\n1,2\n3,4\n")

    def refuse(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(base, "open", refuse, raising=False)
    with pytest.raises(SpectrumFileError, match=r"locked\.csv: permission denied"):
        read_spectrum(path)


# --- UTF-16 and UTF-32 ------------------------------------------------------------------------

_TEXTS = {
    "u.csv": "wavenumber (cm-1),absorbance\n400,0.1\n402,0.5\n404,0.3\n",
    "u.jdx": _jdx(["400 1 2 3"], npoints=3).replace("##LASTX=4000", "##LASTX=404"),
    "u.msp": "Name: a\nNum Peaks: 2\n10 1\n20 5\n",
    "u.mgf": "COM=x\nBEGIN IONS\nTITLE=a\nPEPMASS=100\n10 1\n20 5\nEND IONS\n",
}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-32"])
@pytest.mark.parametrize("name", list(_TEXTS))
def test_utf16_and_utf32_with_bom_are_decoded(write_file, name, encoding):
    text = _TEXTS[name]
    data = b"\xfe\xff" + text.encode("utf-16-be") if encoding == "utf-16-be-bom" \
        else text.encode(encoding)
    wide, plain = read_spectrum(write_file(name, data)), \
        read_spectrum(write_file("plain_" + name, text))
    np.testing.assert_array_equal(wide.x, plain.x)
    np.testing.assert_array_equal(wide.y, plain.y)


def test_utf16_without_bom_and_invalid_utf16(write_file):
    path = write_file("n.csv", _TEXTS["u.csv"].encode("utf-16-le"))
    with pytest.raises(SpectrumFileError, match=r"n\.csv: UTF-16 text without a byte-order "
                       r"mark; save it as UTF-8"):
        read_spectrum(path, "ir")
    bad = "ppm,intensity\n1,2\n".encode("utf-16") + b"\x00\xd8\x31\x00,\x005\x00\n\x00"
    path = write_file("bad.csv", bad)  # a lone surrogate: U+FFFD, which is no number
    with pytest.raises(SpectrumFileError, match=r"bad\.csv: line 3, column 1: '\ufffd1'"):
        read_spectrum(path, "h_nmr")


# --- MGF, MSP, QM9S, Bruker -------------------------------------------------------------------

def test_mgf_record_peaks_and_parameters_capped(write_file, monkeypatch):
    monkeypatch.setattr(mgf, "MAX_POINTS", 100)
    monkeypatch.setattr(mgf, "MAX_FIELDS", 20)
    path = write_file("m.mgf", "BEGIN IONS\nTITLE=a\n" + "1 1\n" * 101 + "END IONS\n")
    with pytest.raises(SpectrumFileError, match=r"m\.mgf: line 103: record 1 has more than "
                       r"100 peaks"):
        list(read_spectra(path))
    path = write_file("k.mgf", "".join(f"K{i}=v\n" for i in range(21)) + "BEGIN IONS\n")
    with pytest.raises(SpectrumFileError, match=r"k\.mgf: line 21: the header has more than "
                       r"20 parameters"):
        list(read_spectra(path))


def test_msp_num_peaks_and_fields_capped(write_file, monkeypatch):
    path = write_file("a.msp", "Name: a\nNum Peaks: 99999999999\n1 1\n")
    with pytest.raises(SpectrumFileError, match=r"a\.msp: line 2: 'Num Peaks: 99999999999' is "
                       r"more than the 2,097,152 peaks"):
        list(read_spectra(path))
    monkeypatch.setattr(msp, "MAX_FIELDS", 5)
    path = write_file("b.msp", "".join(f"K{i}: v\n" for i in range(6)) + "Num Peaks: 1\n1 1\n")
    with pytest.raises(SpectrumFileError, match=r"b\.msp: line 6: record 1 .*more than 5 fields"):
        list(read_spectra(path))


def test_qm9s_checks_columns_before_splitting(qm9s_csv):
    path = qm9s_csv("uv_boraden.csv", n_points=701, rows=1,
                    edit=lambda lines: lines.append(["11", *(["0.5"] * 50000)]))
    with pytest.raises(SpectrumFileError, match=r"line 3: 50001 columns, expected 702"):
        list(read_spectra(path))


def test_qm9s_matrix_capacity_bounded_by_file_size(qm9s_csv):
    path = qm9s_csv("uv_boraden.csv", n_points=701, rows=2)
    with open(path, "a") as handle:
        handle.write("\n" * 200000)
    index, grid, Y = read_qm9s_matrix(path)
    assert index.tolist() == [10, 11] and Y.shape == (2, 701)
    assert Y.base is not None and Y.base.shape[0] < 200  # not 200,000 rows allocated


def test_bruker_si_and_parameter_size_checked(tmp_path, monkeypatch):
    from nmrglue.fileio import bruker as ng

    si = 64
    procs = {"_coreheader": ["##TITLE= Parameter file", "##JCAMPDX= 5.0"], "_comments": [],
             "SI": si, "XDIM": si, "OFFSET": 12.0, "SW_p": 6400.0, "SF": 400.0,
             "AXNUC": "<1H>", "NC_proc": 0, "BYTORDP": 0, "DTYPP": 0}
    exp = tmp_path / "10"
    exp.mkdir()
    ng.write_pdata(str(exp), {"procs": procs}, np.arange(si, dtype=float), write_procs=True,
                   pdata_folder=1, isfloat=False, big=False, submatrix_shape=(si,))
    exp = exp / "pdata" / "1"
    assert read_spectrum(exp).x.size == si
    monkeypatch.setattr(bruker, "MAX_POINTS", 32)
    with pytest.raises(SpectrumFileError, match=r"procs: procs says SI=64 points, more than the "
                       r"32"):
        read_spectrum(exp)
    monkeypatch.setattr(bruker, "MAX_PARAM_BYTES", 100)
    with pytest.raises(SpectrumFileError, match=r"procs parameter file holds .* bytes, more "
                       r"than"):
        read_spectrum(exp)
