"""``mspectmol finetune`` on a small library written from the embedded dataset's spectra."""

import json

import pytest

from mspectmol.cli.main import main
from mspectmol.data.dataset import load_dataset
from mspectmol.data.splits import murcko_scaffold
from mspectmol.models.io import load_model
from mspectmol.spectra.writers import write_csv
from mspectmol.training.finetune import scaffold_folds


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """24 test-part molecules as two-column CSV files plus a manifest with SMILES."""
    folder = tmp_path_factory.mktemp("library")
    ds = load_dataset(("ir", "h_nmr", "c_nmr"))
    rows = ds.split_indices("scaffold", "test")[:24]
    lines = ["sample,ir,h_nmr,c_nmr,smiles"]
    for i in rows:
        name = str(ds.ids[i])
        files = []
        for m, unit in (("ir", "absorbance"), ("h_nmr", "arbitrary"), ("c_nmr", "arbitrary")):
            if not ds.spectra[m][i].any():  # no such nucleus: a missing spectrum
                files.append("")
                continue
            path = folder / f"{name}_{m}.csv"
            write_csv(path, ds.grids[m], ds.spectra[m][i], m, y_unit=unit)
            files.append(path.name)
        lines.append(",".join([name, *files, str(ds.smiles[i])]))
    (folder / "library.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_scaffold_folds_keep_scaffolds_together():
    smiles = ["c1ccccc1C", "c1ccccc1CC", "C1CCCCC1O", "C1CCCCC1N", "CCO", "CCN", "CCCO"]
    folds = scaffold_folds(smiles, 3, seed=0)
    by_scaffold = {}
    for s, f in zip(smiles, folds, strict=True):
        by_scaffold.setdefault(murcko_scaffold(s), set()).add(int(f))
    assert all(len(v) == 1 for v in by_scaffold.values())
    assert set(folds.tolist()) == {0, 1, 2}


def test_finetune_cross_validates_and_saves(library, tmp_path, capsys):
    out = tmp_path / "tuned"
    assert main(["-q", "finetune", "--manifest", str(library / "library.csv"), "-o", str(out),
                 "--folds", "2", "--epochs", "1", "--threads", "1"]) == 0
    report = (out / "cross_validation.md").read_text()
    assert "| fold | train | test |" in report and "Mean micro-F1" in report
    model, meta = load_model(out)
    info = meta.training["finetune"]
    assert info["n"] == 24 and len(info["cross_validation"]) == 2
    assert all(0.0 <= r["after"]["micro_f1"] <= 1.0 for r in info["cross_validation"])
    assert meta.ood is None  # too few molecules to refit it
    json.dumps(info)


def test_a_library_needs_smiles(library, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    text = (library / "library.csv").read_text().splitlines()
    bad.write_text("\n".join([text[0].replace(",smiles", ""), *(
        ",".join(f"{library / c}" if c.endswith(".csv") else c for c in row.split(",")[:-1])
        for row in text[1:3])]) + "\n")
    assert main(["finetune", "--manifest", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "needs its SMILES" in capsys.readouterr().err
