"""The conformer-resolved subset: selection of flexible molecules and the resumable build."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mspectmol.data.build import PLAN_FIELDS
from mspectmol.data.conformer_search import ConformerSettings, distinct
from mspectmol.data.conformer_set import (
    CONFORMER_PLAN_FIELDS,
    build_conformers,
    plan_conformers,
    read_conformer_plan,
    rotatable_bonds,
)
from mspectmol.data.simulator.geometry import parse_smiles
from mspectmol.data.simulator.store import read_records
from mspectmol.errors import MspectmolError

V2_LIKE = [  # (smiles, rotatable bonds)
    ("CCCCCCO", 4), ("CCOC(=O)CCC(=O)OCC", 5), ("CCCCN", 2), ("c1ccccc1", 0),
    ("CCSCCCC#N", 4), ("CC(C)CC(=O)Cl", 2), ("CCCCOC(=O)N(C)CCC", 5), ("OCCCCS", 3),
    ("CCCCC=NNC", 4), ("CC(=O)OC(=O)CCCC", 3), ("CCCCCCC", 4),
]


def _write_v2_plan(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "plan.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=PLAN_FIELDS)
        writer.writeheader()
        for k, (smi, _) in enumerate(V2_LIKE):
            writer.writerow({"id": f"drug-{k:05d}", "source": "test", "name": f"T{k}",
                             "smiles": smi, "qm9_index": -1,
                             "heavy_atoms": parse_smiles(smi).GetNumHeavyAtoms()})


def _write_conformer_plan(folder: Path, smiles: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "plan.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CONFORMER_PLAN_FIELDS)
        writer.writeheader()
        for k, smi in enumerate(smiles):
            writer.writerow({"id": f"drug-{k:05d}", "source": "test", "name": f"T{k}",
                             "smiles": smi, "heavy_atoms": 4, "rotatable_bonds": 3})


def test_rotatable_bonds_counts():
    for smi, n in V2_LIKE:
        assert rotatable_bonds(smi) == n, smi
    with pytest.raises(MspectmolError, match="invalid SMILES"):
        rotatable_bonds("C1CC")


def test_plan_takes_flexible_molecules_covering_groups_deterministically(tmp_path):
    _write_v2_plan(tmp_path / "v2")
    entries = plan_conformers(tmp_path / "v2", tmp_path / "conf", n_molecules=5, per_group=1,
                              max_heavy=12)
    assert len(entries) == 5
    assert all(e.rotatable_bonds >= 3 and e.heavy_atoms <= 12 for e in entries)
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    # the only acyl anhydride, nitrile, hydrazone and carbamate carriers are picked first
    picked = {e.smiles for e in entries}
    assert {"CC(=O)OC(=O)CCCC", "CCSCCCC#N", "CCCCC=NNC", "CCCCOC(=O)N(C)CCC"} <= picked
    again = plan_conformers(tmp_path / "v2", tmp_path / "conf2", n_molecules=5, per_group=1,
                            max_heavy=12)
    assert again == entries == read_conformer_plan(tmp_path / "conf")
    report = (tmp_path / "conf" / "plan_report.json").read_text()
    assert json.loads(report)["flexible_in_v2_plan"] == 8


def test_mirror_images_are_one_conformer_unless_stereo_is_specified():
    mol = parse_smiles("CCCC")
    xyz = np.random.default_rng(0).normal(size=(mol.GetNumAtoms(), 3))
    mirrored = xyz * np.array([-1.0, 1.0, 1.0])
    assert distinct(mol, [xyz, mirrored, xyz + 0.01], 0.25) == [0]
    chiral = parse_smiles("C[C@H](O)CC")
    xyz = np.random.default_rng(1).normal(size=(chiral.GetNumAtoms(), 3))
    assert distinct(chiral, [xyz, xyz * np.array([-1.0, 1.0, 1.0])], 0.05) == [0, 1]


def test_build_simulates_conformers_writes_chunks_and_resumes(tmp_path, monkeypatch):
    pytest.importorskip("tblite")
    pytest.importorskip("csp5")
    out, cache = tmp_path / "conf", tmp_path / "cache"
    _write_conformer_plan(out, ["CCCO", "CCOC", "[Na+].[Cl-]"])
    small = ConformerSettings(n_embed=4, n_optimise=2, n_keep=2)
    assert build_conformers(out, cache, chunk_size=2, n_workers=1, max_molecules=1,
                            conformers=small) == []  # a chunk is written once complete
    written = build_conformers(out, cache, chunk_size=2, n_workers=1, conformers=small)
    assert [p.name for p in written] == ["conf-000.parquet", "conf-001.parquet"]
    table = pq.read_table(written[0])
    rows = table.to_pylist()
    assert {r["id"] for r in rows} == {"drug-00000", "drug-00001"}
    for mol_id in ("drug-00000", "drug-00001"):
        mine = [r for r in rows if r["id"] == mol_id]
        assert [r["conformer"] for r in mine] == list(range(len(mine)))
        assert 1 <= len(mine) <= 2 and mine[0]["rel_energy_kcal"] == 0.0
        assert sum(r["boltzmann_weight"] for r in mine) == pytest.approx(1.0, abs=1e-5)
        assert all(r["rel_energy_kcal"] <= 5.0 for r in mine)
        assert np.all(np.diff([r["energy"] for r in mine]) >= 0)
        for r in mine:
            n_atoms = len(r["atomic_numbers"])
            assert len(r["coordinates"]) == 3 * n_atoms
            assert len(r["frequencies"]) == len(r["ir_intensities"]) == 3 * n_atoms - 6
            assert len(r["h_atom_shift"]) == n_atoms and r["h_ok"] and r["c_ok"]
            assert r["molecule_seconds"] > 0 and r["n_distinct"] >= len(mine)
    records = list(read_records(written[0]))  # the simulator's own format
    assert len(records) == len(rows) and records[0].settings["seed"] == 42
    with (out / "chunks" / "conf-001.failures.csv").open(newline="") as fh:
        failures = list(csv.DictReader(fh))
    assert [(f["name"], f["stage"]) for f in failures] == [("drug-00002", "parse")]
    assert pq.read_table(written[1]).num_rows == 0
    # resuming: finished chunks are skipped; a lost chunk is rebuilt from the cache alone
    assert build_conformers(out, cache, chunk_size=2, conformers=small) == []
    written[0].unlink()

    def no_simulation(*args, **kwargs):
        raise AssertionError("a cached molecule was simulated again")

    monkeypatch.setattr("mspectmol.data.conformer_set.simulate_conformers", no_simulation)
    again = build_conformers(out, cache, chunk_size=2, n_workers=1, conformers=small)
    assert [p.name for p in again] == ["conf-000.parquet"]
    assert str(pq.read_table(again[0]).to_pylist()) == str(rows)  # NaN shifts compare
