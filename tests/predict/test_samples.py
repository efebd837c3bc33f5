"""Finding each sample's files: manifest CSVs and <sample>_<modality>.<ext> folders."""

from pathlib import Path

import pytest

from mspectmol.data.samples import read_manifest, safe_name, scan_folder, split_file_name
from mspectmol.errors import MspectmolError


@pytest.mark.parametrize("name, expected", [
    ("aspirin_ir.jdx", ("aspirin", "ir")),
    ("aspirin_h_nmr.jdx", ("aspirin", "h_nmr")),
    ("my_sample_c_nmr.csv", ("my_sample", "c_nmr")),
    ("x_1H.csv", ("x", "h_nmr")),
    ("x_uv_vis.csv", ("x", "uv")),
    ("molecules.smi", None),
    ("_ir.jdx", None),
    ("sample_colour.csv", None),
])
def test_split_file_name(name, expected):
    assert split_file_name(Path(name)) == expected


def test_manifest_semicolons_relative_paths_and_optional_columns(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("\ufeffSample;IR;1H;smiles;solvent\na;a.jdx;/data/a_h.jdx;CCO;cdcl3\n"
                    "b;b.jdx;;;\n")
    a, b = read_manifest(path)
    assert a.files == {"ir": tmp_path / "a.jdx", "h_nmr": Path("/data/a_h.jdx")}
    assert (a.smiles, a.solvent) == ("CCO", "cdcl3")
    assert b.files == {"ir": tmp_path / "b.jdx"} and b.smiles is None and b.solvent is None


@pytest.mark.parametrize("text, message", [
    ("ir,h_nmr\na.jdx,b.jdx\n", "no 'sample' column"),
    ("sample,smiles\na,CCO\n", "no modality column"),
    ("sample,ir,infrared\na,x,y\n", "two columns for 'ir'"),
    ("sample,ir\na,x.jdx,extra\n", "line 2: 3 cells, the header has 2"),
    ("sample,ir\na,x.jdx\na,y.jdx\n", "line 3: sample 'a' appears twice"),
    ("sample,ir\n,x.jdx\n", "line 2: empty sample name"),
    ("sample,ir,h_nmr\na,,\n", "sample 'a' has no spectrum file"),
    ("sample,ir\n", "lists no samples"),
    ("", "the manifest is empty"),
])
def test_bad_manifests_name_the_file_and_problem(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(MspectmolError, match="m.csv") as info:
        read_manifest(path)
    assert message in str(info.value)


def test_folder_scan_groups_files_and_refuses_duplicates(tmp_path):
    for name in ("b_ir.jdx", "a_ir.jdx", "a_h_nmr.jdx", "README.md", ".hidden_ir.jdx"):
        (tmp_path / name).write_text("x")
    samples = scan_folder(tmp_path)
    assert [(s.name, sorted(s.files)) for s in samples] == [("a", ["h_nmr", "ir"]),
                                                           ("b", ["ir"])]
    (tmp_path / "a_ir.csv").write_text("x")
    with pytest.raises(MspectmolError, match="two ir files for sample 'a'"):
        scan_folder(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MspectmolError, match="no spectrum files named"):
        scan_folder(empty)


def test_safe_name():
    assert safe_name("a/b c?.jdx") == "a_b_c_.jdx" and safe_name("../") == "sample"
