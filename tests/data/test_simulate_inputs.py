"""Reading molecules to simulate: SMILES strings, SMILES files and SDF files."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from mspectmol.data.simulator.geometry import parse_smiles
from mspectmol.data.simulator.inputs import (
    INPUT_STAGE,
    MoleculeInputError,
    iter_tasks,
    read_tasks,
)
from mspectmol.errors import InvalidSmilesError, MspectmolError


def embedded(smiles: str, name: str = "", seed: int = 7) -> Chem.Mol:
    """A molecule with hydrogens and one 3D conformer."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    mol.SetProp("_Name", name)
    return mol


def write_sdf(path: Path, mols: list[Chem.Mol]) -> Path:
    writer = Chem.SDWriter(str(path))
    for mol in mols:
        writer.write(mol)
    writer.close()
    return path


def assert_bonds_have_bond_lengths(smiles: str, coords: np.ndarray) -> None:
    """The coordinates are in the atom order of parse_smiles(smiles): every bond 0.9-1.6 A."""
    target = parse_smiles(smiles)
    assert coords.shape == (target.GetNumAtoms(), 3)
    for bond in target.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        assert 0.9 < np.linalg.norm(coords[i] - coords[j]) < 1.6


class Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def messages():
    handler = Messages()
    logger = logging.getLogger("mspectmol.simulate")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_smiles_arguments_name_themselves() -> None:
    tasks, failures = read_tasks(["C", " O ", "CCO"])
    assert [(t.name, t.smiles, t.coords) for t in tasks] == [
        ("C", "C", None), (" O ", "O", None), ("CCO", "CCO", None)]
    assert failures == []


def test_smiles_and_table_files(tmp_path: Path) -> None:
    smi = tmp_path / "mols.smi"
    smi.write_text("# comment\nC methane\nO\n")
    csv = tmp_path / "more.csv"
    csv.write_text("id,smiles\neth,CCO\n")
    tasks, _ = read_tasks([smi, str(csv)])
    assert [(t.name, t.smiles) for t in tasks] == [
        ("methane", "C"), ("mols:3", "O"), ("eth", "CCO")]


def test_invalid_smiles_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.smi"
    path.write_text("C methane\nC1CC broken\nO water\n")
    with pytest.raises(InvalidSmilesError, match=r"bad\.smi:2: invalid SMILES 'C1CC'"):
        read_tasks([path])


def test_skip_invalid_reports_input_failures(tmp_path: Path) -> None:
    path = tmp_path / "bad.smi"
    path.write_text("C methane\nC1CC broken\nO water\n")
    tasks, failures = read_tasks([path, "not_a_smiles"], skip_invalid=True)
    assert [t.name for t in tasks] == ["methane", "water"]
    assert [(f.name, f.smiles, f.stage) for f in failures] == [
        ("broken", "C1CC", INPUT_STAGE), ("not_a_smiles", "not_a_smiles", INPUT_STAGE)]
    assert "bad.smi" in failures[0].reason and "invalid SMILES" in failures[0].reason


def test_argument_that_is_neither_file_nor_smiles() -> None:
    with pytest.raises(MoleculeInputError, match="not a file, and invalid SMILES 'xyz'"):
        read_tasks(["xyz"])


@pytest.mark.parametrize("name", ["missing.smi", "missing.sdf", "missing.sdf.gz"])
def test_missing_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(MspectmolError, match=f"{name}: file not found"):
        read_tasks([tmp_path / name])


def test_unsupported_file_type_and_folder(tmp_path: Path) -> None:
    path = tmp_path / "mols.xyz"
    path.write_text("3\n\nO 0 0 0\n")
    with pytest.raises(MoleculeInputError, match=r"mols\.xyz: unsupported file type '\.xyz'"):
        read_tasks([path])
    with pytest.raises(MoleculeInputError, match="not a regular file"):
        read_tasks([tmp_path])


@pytest.mark.parametrize("name,text,match", [
    ("empty.smi", "", "no SMILES records"),
    ("empty.csv", "", "empty file"),
    ("empty.sdf", "", "no molecules in the file"),
    ("blank.sdf", "\n\n$$$$\n\n", "no molecules in the file"),
])
def test_empty_files(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MspectmolError, match=match) as info:
        read_tasks([path])
    assert name in str(info.value)


def test_sdf_keeps_3d_coordinates_in_smiles_atom_order(tmp_path: Path) -> None:
    mol = embedded("OCC", "ethanol")
    order = list(range(mol.GetNumAtoms()))[::-1]  # hydrogens first: not the SMILES order
    scrambled = Chem.RenumberAtoms(mol, order)
    scrambled.SetProp("_Name", "ethanol")
    (task,), _ = read_tasks([write_sdf(tmp_path / "eth.sdf", [scrambled])])
    assert task.name == "ethanol"
    assert Chem.CanonSmiles(task.smiles) == Chem.CanonSmiles("CCO")
    assert_bonds_have_bond_lengths(task.smiles, task.coords)
    given = mol.GetConformer().GetPositions()
    distances = np.sort(np.linalg.norm(given[:, None] - given[None], axis=-1).ravel())
    got = np.sort(np.linalg.norm(task.coords[:, None] - task.coords[None], axis=-1).ravel())
    np.testing.assert_allclose(got, distances, atol=1e-3)


def test_sdf_stereo_comes_from_the_geometry(tmp_path: Path) -> None:
    mol = embedded("C[C@@H](N)O", "one")
    mirror = Chem.Mol(mol)
    conf = mirror.GetConformer()
    for i in range(mirror.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x, p.y, -p.z))
    mirror.SetProp("_Name", "other")
    tasks, _ = read_tasks([write_sdf(tmp_path / "pair.sdf", [mol, mirror])])
    assert tasks[0].smiles == Chem.CanonSmiles("C[C@@H](N)O")
    assert tasks[1].smiles == Chem.CanonSmiles("C[C@H](N)O")


def test_sdf_names_2d_records_and_gzip(tmp_path: Path) -> None:
    flat = Chem.MolFromSmiles("CC=O")
    AllChem.Compute2DCoords(flat)
    flat.SetProp("ID", "acetaldehyde")
    no_name = Chem.MolFromSmiles("C#N")
    path = write_sdf(tmp_path / "mix.sdf", [flat, no_name])
    gz = tmp_path / "mix.sdf.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    for source in (path, gz):
        tasks, _ = read_tasks([source])
        assert [t.name for t in tasks][0] == "acetaldehyde"
        assert tasks[1].name.startswith("mix:")  # file stem and line of the record
        assert all(t.coords is None for t in tasks)  # 2D / no coordinates: conformer search


def test_sdf_3d_without_hydrogens_gets_them(tmp_path: Path, messages: list[str]) -> None:
    heavy = Chem.RemoveHs(embedded("CCO"))
    heavy.SetProp("_Name", "bare")
    (task,), _ = read_tasks([write_sdf(tmp_path / "bare.sdf", [heavy])])
    assert task.coords.shape == (9, 3)
    assert_bonds_have_bond_lengths(task.smiles, task.coords)
    np.testing.assert_allclose(task.coords[:3], heavy.GetConformer().GetPositions(), atol=1e-4)
    assert any("no explicit hydrogens" in line and "bare" in line for line in messages)


def test_unreadable_sdf_record_names_file_and_record(tmp_path: Path) -> None:
    good = Chem.MolToMolBlock(embedded("O", "water"))
    broken = "broken\n  junk\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\nnonsense\n"
    path = tmp_path / "two.sdf"
    path.write_text(f"{broken}$$$$\n{good}$$$$\n")
    with pytest.raises(MoleculeInputError, match=r"two\.sdf:1 \(record 1\): RDKit cannot parse"):
        read_tasks([path])
    tasks, failures = read_tasks([path], skip_invalid=True)
    assert [t.name for t in tasks] == ["water"]
    assert failures[0].stage == INPUT_STAGE and "record 1" in failures[0].reason


def test_sdf_record_without_a_molecule(tmp_path: Path) -> None:
    empty = Chem.MolToMolBlock(Chem.Mol())
    path = tmp_path / "none.sdf"
    path.write_text(f"{empty}$$$$\n")
    with pytest.raises(MoleculeInputError, match=r"none\.sdf:1 \(record 1\): the record has no"):
        read_tasks([path])


def test_sdf_with_overlapping_atoms(tmp_path: Path) -> None:
    mol = embedded("CO", "crushed")
    conf = mol.GetConformer()
    conf.SetAtomPosition(1, conf.GetAtomPosition(0))
    path = write_sdf(tmp_path / "crushed.sdf", [mol])
    with pytest.raises(MoleculeInputError, match="'crushed'.*atoms 1 and 2 are 0.000 Angstrom"):
        read_tasks([path])


def test_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(MoleculeInputError, match="duplicate molecule name 'C'"):
        read_tasks(["C", "O", "C"])
    tasks, failures = read_tasks(["C", "C"], skip_invalid=True)
    assert len(tasks) == 1 and len(failures) == 1 and failures[0].name != "C"


def test_iter_tasks_streams(tmp_path: Path) -> None:
    path = tmp_path / "mols.smi"
    path.write_text("C a\nO b\nC1CC c\n")
    stream = iter_tasks([path])
    assert next(stream).name == "a"  # the file is read lazily: the bad line comes later
    assert next(stream).name == "b"
    with pytest.raises(InvalidSmilesError, match=r"mols\.smi:3"):
        next(stream)
