"""Tests of SMILES parsing, identifiers and SMILES-file reading."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from rdkit import Chem

from mspectmol.chem import molecules as mo
from mspectmol.errors import InvalidSmilesError, MspectmolError

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def test_mol_from_smiles() -> None:
    mol = mo.mol_from_smiles("  OCC\n")
    assert Chem.MolToSmiles(mol) == "CCO"
    assert mol.GetNumAtoms() == 3  # implicit hydrogens, as RDKit parses SMILES


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("C1CC", "syntax error"),
        ("C(C)(C)(C)(C)C", "valence"),
        ("c1cccc1", "kekulize"),
        ("", "empty SMILES"),
        ("   ", "empty SMILES"),
        ("CC O", "whitespace"),
        (None, "got NoneType"),
        (1.5, "got float"),
    ],
)
def test_invalid_smiles(smiles: object, reason: str) -> None:
    with pytest.raises(InvalidSmilesError) as info:
        mo.mol_from_smiles(smiles)  # type: ignore[arg-type]
    message = str(info.value)
    assert repr(smiles) in message and reason.lower() in message.lower()
    assert isinstance(info.value, MspectmolError) and isinstance(info.value, ValueError)


def test_invalid_smiles_names_file_and_line_and_is_silent(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(InvalidSmilesError, match=r"^mols\.smi:12: invalid SMILES 'C1CC'"):
        mo.mol_from_smiles("C1CC", source="mols.smi", line=12)
    with pytest.raises(InvalidSmilesError, match=r"^line 3: "):
        mo.mol_from_smiles("C(", line=3)
    captured = capfd.readouterr()
    assert "SMILES Parse Error" not in captured.err + captured.out


def test_identifiers() -> None:
    assert mo.canonical_smiles("OCC") == "CCO"
    mol = Chem.MolFromSmiles("C[C@H](N)C(=O)O")
    assert "@" in mo.canonical_smiles(mol)
    assert "@" not in mo.canonical_smiles(mol, isomeric=False)
    assert mo.inchikey("OCC") == "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"  # ethanol
    assert mo.inchikey(Chem.MolFromSmiles("CCO")) == mo.inchikey("OCC")
    assert mo.heavy_atom_count(ASPIRIN) == 13
    assert mo.heavy_atom_count(Chem.AddHs(Chem.MolFromSmiles("CCO"))) == 3
    assert mo.formula(ASPIRIN) == "C9H8O4"
    assert mo.formula("CCl") == "CH3Cl"  # Hill order: C, H, then alphabetical
    assert mo.formula("[NH4+]") == "H4N+"
    with pytest.raises(InvalidSmilesError, match="C1CC"):
        mo.formula("C1CC")


def test_inchikey_failure_is_an_error() -> None:
    with pytest.raises(InvalidSmilesError, match="InChIKey"):
        mo.inchikey("*C")


def test_read_smi(tmp_path: Path) -> None:
    path = tmp_path / "mols.smi"
    path.write_text(
        "SMILES Name\n# a comment\nCCO ethanol\n\n  c1ccccc1\tbenzene ring  \nCC(=O)O\n",
        encoding="utf-8",
    )
    assert list(mo.read_smiles_file(path)) == [
        ("ethanol", "CCO"),
        ("benzene ring", "c1ccccc1"),
        ("mols:6", "CC(=O)O"),
    ]


def test_read_txt_gz_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "set.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write("CCO\r\nCCN amine\r\n")
    assert list(mo.read_smiles_file(path)) == [("set:1", "CCO"), ("amine", "CCN")]


def test_read_csv_and_tsv(tmp_path: Path) -> None:
    csv_path = tmp_path / "mols.csv"
    csv_path.write_text(
        'Name,mass,SMILES\n"ethanol, absolute",46,CCO\n,78,c1ccccc1\n\n', encoding="utf-8"
    )
    assert list(mo.read_smiles_file(csv_path)) == [
        ("ethanol, absolute", "CCO"),
        ("mols:3", "c1ccccc1"),
    ]
    tsv_path = tmp_path / "mols.tsv"
    tsv_path.write_text("ID\tsmiles\nm1\tCC=O\nm2\tCC#N\n", encoding="utf-8")
    assert list(mo.read_smiles_file(tsv_path)) == [("m1", "CC=O"), ("m2", "CC#N")]


def test_streaming_yields_before_a_later_error(tmp_path: Path) -> None:
    path = tmp_path / "mols.smi"
    path.write_text("CCO a\nCCN b\nC1CC bad\n", encoding="utf-8")
    records = mo.read_smiles_file(path)
    assert next(records) == ("a", "CCO")
    assert next(records) == ("b", "CCN")
    with pytest.raises(InvalidSmilesError) as info:
        next(records)
    assert f"{path}:3: invalid SMILES 'C1CC'" in str(info.value)


def test_validate_false_passes_smiles_through(tmp_path: Path) -> None:
    path = tmp_path / "mols.smi"
    path.write_text("C1CC bad\n", encoding="utf-8")
    assert list(mo.read_smiles_file(path, validate=False)) == [("bad", "C1CC")]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("a.csv", "name,mass\nx,1\n", ":1: no 'smiles' column in the header (columns: name, mass)"),
        ("b.csv", "", ": empty file: no header row"),
        ("c.csv", "smiles,name\nCCO,x\n,y\n", ":3: invalid SMILES '': empty SMILES"),
        ("d.csv", "name,smiles\nx\n", ":2: row has 1 fields"),
        ("e.smi", "# only a comment\n\n", ": no SMILES records in the file"),
        ("f.tsv", "smiles\tname\nCC\tx\nCCC(\ty\n", ":3: invalid SMILES 'CCC('"),
    ],
)
def test_bad_files_name_file_and_line(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MspectmolError) as info:
        list(mo.read_smiles_file(path))
    assert f"{path}{problem}" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(mo.SmilesFileError, match="file not found"):
        mo.read_smiles_file(tmp_path / "none.smi")  # raised at the call, not on iteration
    with pytest.raises(mo.SmilesFileError, match=r"unsupported file type '\.sdf'"):
        mo.read_smiles_file(tmp_path / "x.sdf")
    folder = tmp_path / "dir.smi"
    folder.mkdir()
    with pytest.raises(mo.SmilesFileError, match="not a regular file"):
        mo.read_smiles_file(folder)
    latin = tmp_path / "latin.smi"
    latin.write_bytes("CCO \xe9thanol\n".encode("latin-1"))
    with pytest.raises(mo.SmilesFileError, match="latin.smi: not UTF-8"):
        list(mo.read_smiles_file(latin))
    fake_gz = tmp_path / "fake.smi.gz"
    fake_gz.write_text("CCO\n", encoding="utf-8")
    with pytest.raises(mo.SmilesFileError, match="fake.smi.gz: cannot read"):
        list(mo.read_smiles_file(fake_gz))
