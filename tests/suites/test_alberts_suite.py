"""``mspectmol benchmark --data`` on Alberts et al. parquet data: the suite's variant for that
data (table1: the paper's rows of the Alberts et al. dataset, with IR + (MS/MS+, MS/MS-))."""

from __future__ import annotations

import json

import pytest

from mspectmol.cli.main import main
from mspectmol.errors import ConfigError
from mspectmol.suites.definitions import load_suite
from mspectmol.suites.plan import dataset_info

PAPER_ROWS = ["IR", "13C-NMR", "1H-NMR", "IR + (13C-NMR, 1H-NMR)", "13C-NMR + (IR, 1H-NMR)",
              "1H-NMR + (IR, 13C-NMR)", "IR + (MS/MS+, MS/MS-)"]


@pytest.fixture(scope="module")
def chunk(tmp_path_factory, alberts_dataset):
    return alberts_dataset(tmp_path_factory.mktemp("alberts") / "chunk.parquet", n=40, seed=7)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path_factory.getbasetemp() / "suite-cache"))


def test_table1_names_the_papers_alberts_rows():
    embedded = load_suite("table1")
    assert [c.label() for c in embedded.configurations][-1] == "IR + (Raman)"
    suite = load_suite("table1", alberts=True)
    assert suite.name == "table1-alberts"
    assert [c.label() for c in suite.configurations] == PAPER_ROWS
    assert suite.models == embedded.models and suite.seeds == embedded.seeds
    quick = load_suite("table1", quick=True, alberts=True)
    assert quick.name == "table1-alberts-quick"
    assert [c.label() for c in quick.configurations] == [PAPER_ROWS[0], PAPER_ROWS[-1]]


def test_a_suite_needing_spectra_the_data_lacks_is_refused(tmp_path):
    path = tmp_path / "raman.json"
    path.write_text(json.dumps({"name": "raman", "configurations": [["ir", "raman"]],
                                "models": ["pa_ib"]}))
    assert load_suite(path).name == "raman"
    with pytest.raises(ConfigError, match="use raman, which Alberts et al. data lacks"):
        load_suite(path, alberts=True)


def test_quick_benchmark_on_parquet_data(chunk, tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["-q", "benchmark", "--suite", "table1", "--quick", "--data", str(chunk),
            "--models", "pa_ib", "--epochs", "1", "--threads", "1", "--out", str(out)]
    assert main(argv) == 0
    keys = sorted(p.stem for p in (out / "runs").glob("*.json"))
    fingerprint = dataset_info(chunk)["fingerprint"]
    assert [k.rsplit("__", 1)[0] for k in keys] == [
        "table1-alberts-quick__pa_ib__ir+msms_pos+msms_neg__ir__scaffold__seed0",
        "table1-alberts-quick__pa_ib__ir__ir__scaffold__seed0"]
    table = (out / "table.md").read_text()
    assert "| **IR** + (MS/MS+, MS/MS-) |" in table and f"index {fingerprint}" in table
    assert main(argv) == 0  # finished runs are skipped
    assert "0 to train" in capsys.readouterr().out
