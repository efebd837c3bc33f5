"""The registry of formats: one registration reaches detection, help texts, web page, README."""

import argparse

import numpy as np
import pytest

from mspectmol.cli.main import build_parser, main
from mspectmol.spectra.readers import (
    FormatSpec,
    detect_format,
    format_names,
    format_table_markdown,
    formats,
    get_format,
    read_spectrum,
    register_format,
    unregister_format,
)
from mspectmol.spectra.readers.base import build_spectrum, check_file
from mspectmol.web.page import PageModel, accepted_formats, render_page


def _read_zz(path, modality=None):
    """Lines ``x y`` after a ``#ZZ`` line: one IR spectrum in cm-1 and absorbance."""
    p = check_file(path)
    rows = [line.split() for line in p.read_text().splitlines()[1:] if line.strip()]
    x, y = np.asarray(rows, dtype=float).T
    yield build_spectrum(x, y, modality or "ir", x_unit="cm-1", y_unit="absorbance",
                         metadata={"title": p.stem}, source=p, kind="profile")


ZZ = FormatSpec("zz-test", _read_zz, "ZZ test spectra", "a throwaway format of this test",
                aliases=("zz",), extensions=(".zz",),
                sniff=lambda probe: probe.first_line.startswith("#ZZ"), modalities=("ir",))


@pytest.fixture
def zz_format():
    register_format(ZZ)
    try:
        yield ZZ
    finally:
        unregister_format(ZZ.name)


def _zz_text() -> str:
    wn = np.linspace(400.0, 4000.0, 1801)
    y = 0.05 + 0.9 / (1 + ((wn - 1715.0) / 10.0) ** 2)
    return "#ZZ\n" + "".join(f"{a:.1f} {b:.6f}\n" for a, b in zip(wn, y, strict=True))


def _help(command: str) -> str:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return " ".join(sub.choices[command].format_help().split())


def test_a_registered_format_reaches_dispatch_help_web_and_readme(zz_format, tmp_path):
    by_content = tmp_path / "a.txt"             # .txt is delimited's; the content decides
    by_content.write_text(_zz_text())
    by_extension = tmp_path / "b.zz"
    by_extension.write_text(_zz_text().removeprefix("#ZZ\n").replace(" ", "\t"))
    assert detect_format(by_content) == "zz-test"
    assert detect_format(by_extension) == "zz-test"
    assert read_spectrum(by_content).y.size == 1801
    assert get_format("ZZ") is ZZ and "zz-test" in format_names()

    assert "zz-test (also zz): ZZ test spectra, .zz" in _help("convert")
    assert "ZZ test spectra (.zz)" in _help("convert")             # the description line
    assert "ZZ test spectra" in _help("predict")
    assert "ZZ test spectra (.zz)" in accepted_formats()
    page = render_page(PageModel("m", "m", "ir", ["ir"], [], 2**20))
    assert "ZZ test spectra (.zz)" in page
    assert "| `zz-test`, `zz` | ZZ test spectra | `.zz` | IR | a throwaway format" in \
        format_table_markdown()

    out = tmp_path / "grid.csv"
    assert main(["-q", "convert", str(by_extension), "-o", str(out), "--input-format", "zz",
                 "-n", "50"]) == 0
    assert out.is_file()

    unregister_format("zz-test")
    assert "zz-test" not in _help("convert") and "ZZ test" not in accepted_formats()
    assert detect_format(by_content) == "delimited"                 # a line of numbers


def test_deprecated_format_flag_of_convert(zz_format, tmp_path, capsys):
    path = tmp_path / "c.txt"
    path.write_text(_zz_text())
    out = tmp_path / "grid.csv"
    assert main(["convert", str(path), "-o", str(out), "--format", "zz-test", "-n", "50"]) == 0
    assert "--format is deprecated; use --input-format" in capsys.readouterr().err
    assert "--format" not in _help("convert").replace("--input-format", "")


def test_registry_refuses_clashes_and_bad_names():
    with pytest.raises(ValueError, match="jdx already names format 'jcamp'"):
        register_format(FormatSpec("other", _read_zz, "t", "d", aliases=("jdx",)))
    with pytest.raises(ValueError, match=r"extension \.csv belongs to format 'delimited'"):
        register_format(FormatSpec("other", _read_zz, "t", "d", extensions=(".csv",)))
    with pytest.raises(ValueError, match="lower-case words"):
        FormatSpec("Bad_Name", _read_zz, "t", "d")
    with pytest.raises(ValueError, match="containers"):
        FormatSpec("x", _read_zz, "t", "d", containers=("zip",))
    with pytest.raises(ValueError, match="extensions look like"):
        FormatSpec("x", _read_zz, "t", "d", extensions=("jdx",))
    assert "other" not in format_names()


def test_table_and_lists_cover_every_format():
    table = format_table_markdown().splitlines()
    assert len(table) == 2 + len(formats())
    assert all(f"`{name}`" in "\n".join(table) for name in format_names())
    single = accepted_formats()
    assert "JCAMP-DX" in single and "mspectmol parquet" in single
    assert "Alberts" not in single and "Bruker" not in single    # datasets and folders
    assert "Bruker 1D NMR folder" in _help("predict") and "Alberts" not in _help("predict")
