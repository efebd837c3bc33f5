"""``mspectmol simulate`` end to end on tiny molecules (methane, water, ethanol)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from mspectmol.cli.main import main
from mspectmol.data.simulator import runner
from mspectmol.data.simulator.store import read_records

FAST = ["--n-conformers", "1", "--no-progress"]


def simulate(out: Path, *molecules: str, workers: int = 1, extra: tuple[str, ...] = ()) -> int:
    return main(["simulate", *molecules, "-o", str(out), "--workers", str(workers), *FAST,
                 *extra])


def names(out: Path) -> list[str]:
    return pq.read_table(out, columns=["name"]).column("name").to_pylist()


def failures(out: Path) -> list[dict[str, str]]:
    path = out.with_name(out.name.replace(".parquet", ".failures.csv"))
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the molecules actually simulated (in this process: --workers 1)."""
    calls: list[str] = []
    real = runner._simulate_task

    def counting(task, settings):
        calls.append(task.name)
        return real(task, settings)

    monkeypatch.setattr(runner, "_simulate_task", counting)
    return calls


def test_resume_uses_the_cache(tmp_path: Path, counted: list[str],
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run" / "out.parquet"
    assert simulate(out, "C", "O") == 0
    assert counted == ["C", "O"]
    assert (tmp_path / "run" / ".mspectmol-cache").is_dir()
    capsys.readouterr()
    assert simulate(out, "C", "O", "CCO") == 0
    assert counted == ["C", "O", "CCO"]  # only ethanol was simulated again
    log = capsys.readouterr().err
    assert "3 molecule(s): 3 ok, 0 failed, 2 from cache" in log
    assert "molecules/s" in log
    assert names(out) == ["C", "O", "CCO"]
    records = list(read_records(out))
    assert [r.formula for r in records] == ["CH4", "H2O", "C2H6O"]
    assert all(np.isfinite(r.frequencies).all() for r in records)
    assert failures(out) == []
    assert simulate(out, "C", "O", "CCO") == 0
    assert "nothing to simulate" in capsys.readouterr().err


def test_interrupted_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    real = runner._simulate_task

    def interrupt_at_water(task, settings):
        if task.name == "O":
            raise KeyboardInterrupt
        return real(task, settings)

    monkeypatch.setattr(runner, "_simulate_task", interrupt_at_water)
    out = tmp_path / "out.parquet"
    assert simulate(out, "C", "O", "CCO") == 130
    assert not out.exists()
    assert "run the same command again to resume" in capsys.readouterr().err
    monkeypatch.setattr(runner, "_simulate_task", real)
    assert simulate(out, "C", "O", "CCO") == 0
    assert "3 ok, 0 failed, 1 from cache" in capsys.readouterr().err
    assert names(out) == ["C", "O", "CCO"]


def test_two_workers_match_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert simulate(one, "C", "O", "CCO", workers=1, extra=("--cache", str(tmp_path / "c1"))) == 0
    assert simulate(two, "C", "O", "CCO", workers=2, extra=("--cache", str(tmp_path / "c2"))) == 0
    log = capsys.readouterr().err
    assert log.count("3 ok, 0 failed, 0 from cache") == 2  # the pool really simulated them
    assert names(two) == ["C", "O", "CCO"]
    for a, b in zip(read_records(one), read_records(two), strict=True):
        np.testing.assert_allclose(a.frequencies, b.frequencies, atol=1e-6)
        np.testing.assert_allclose(a.ir_intensities, b.ir_intensities, rtol=1e-6, atol=1e-9)


def test_sdf_geometry_is_the_starting_point(tmp_path: Path) -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    mol.SetProp("_Name", "ethanol")
    sdf = tmp_path / "eth.sdf"
    with Chem.SDWriter(str(sdf)) as writer:
        writer.write(mol)
    out = tmp_path / "eth.parquet"
    assert simulate(out, str(sdf)) == 0
    (record,) = read_records(out)
    assert names(out) == ["ethanol"] and record.formula == "C2H6O"
    assert "conformers" not in record.timings  # started from the file, no conformer search
    assert record.n_imaginary == 0


def test_failures_are_listed_and_exit_zero(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    smi = tmp_path / "mols.smi"
    smi.write_text("O water\n[Na+].[Cl-] salt\nC1CC broken\n")
    out = tmp_path / "out.parquet"
    assert simulate(out, str(smi), extra=("--skip-invalid",)) == 0
    log = capsys.readouterr().err
    assert "1 ok, 2 failed (input 1, parse 1)" in log and "exit status 0" in log
    rows = failures(out)
    assert [(r["name"], r["stage"]) for r in rows] == [("broken", "input"), ("salt", "parse")]
    assert "disconnected fragments" in rows[1]["reason"]
    assert names(out) == ["water"]
    assert simulate(out, str(smi), extra=("--skip-invalid", "--retry-failures")) == 0
    assert "2 failed (input 1, parse 1), 1 from cache" in capsys.readouterr().err


def test_settings_file_and_overrides(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"fmax": 0.005, "seed": 1}))
    out = tmp_path / "w.parquet"
    assert simulate(out, "O", extra=("--settings", str(settings), "--seed", "5")) == 0
    stored = json.loads(pq.read_schema(out).metadata[b"settings"])
    assert (stored["fmax"], stored["seed"], stored["n_conformers"]) == (0.005, 5, 1)


@pytest.mark.parametrize("setup,args,message", [
    (None, ["missing.smi"], "missing.smi: file not found"),
    ({"bad.smi": "C ok\nC1CC broken\n"}, ["bad.smi"], "bad.smi:2: invalid SMILES 'C1CC'"),
    ({"empty.smi": ""}, ["empty.smi"], "empty.smi: no SMILES records"),
    ({"empty.sdf": "\n"}, ["empty.sdf"], "empty.sdf: no molecules in the file"),
    ({"none.sdf": Chem.MolToMolBlock(Chem.Mol()) + "$$$$\n"}, ["none.sdf"],
     "none.sdf:1 (record 1): the record has no atoms"),
    ({"s.json": "{\"fmax\": -1}"}, ["O", "--settings", "s.json"], "s.json: invalid simulation"),
    ({"s.json": "[1]"}, ["O", "--settings", "s.json"], "s.json: expected a JSON object"),
    ({"s.json": "{\"speed\": 1}"}, ["O", "--settings", "s.json"], "unknown simulation settings"),
    (None, ["O", "--workers", "0"], "--workers must be at least 1"),
    (None, ["O", "--scheduler", "local:0"], "bad local cluster 'local:0'"),
    (None, ["O", "--scheduler", "local:x"], "bad local cluster 'local:x'"),
    (None, ["O", "--scheduler-file", "sched.json"], "sched.json: scheduler file not found"),
    (None, ["O", "--scheduler", "local:2", "--workers", "2"],
     "--workers sets the local process pool"),
    (None, ["O", "--scheduler", "tcp://h:1", "--connect-timeout", "0"],
     "the connect timeout must be positive"),
])
def test_bad_input_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str], setup, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in (setup or {}).items():
        (tmp_path / name).write_text(text)
    assert main(["simulate", *args, "-o", "out.parquet", "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()


def test_output_must_be_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "O", "-o", str(tmp_path / "out.csv")]) == 2
    assert "must be a .parquet file" in capsys.readouterr().err


def test_scheduler_and_scheduler_file_exclude_each_other(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "O", "-o", str(tmp_path / "o.parquet"), "--scheduler", "local:1",
              "--scheduler-file", "s.json"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_scheduler_without_dask_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    out = tmp_path / "o.parquet"
    assert main(["simulate", "O", "-o", str(out), "--scheduler", "local:1"]) == 2
    assert "pip install mspectmol[cluster]" in capsys.readouterr().err
    assert not out.exists()
