"""``mspectmol --version``, shared options and ``mspectmol label`` through main()."""

import csv
import json

import pytest

from mspectmol import __version__
from mspectmol.cli.main import main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mspectmol {__version__}"


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "label" in capsys.readouterr().out


def test_label_smiles_prints_groups(capsys):
    assert main(["label", "CC(=O)Oc1ccccc1C(=O)O", "CC#N"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t")[2] == "Alcohol, Alkane, Arene, Carboxylic acid, Ester, Ether"
    assert out[1].split("\t")[2] == "Alkane, Nitrile"


def test_label_file_to_csv_and_json(tmp_path):
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO ethanol\nCC(C)=O acetone\n")
    out_csv = tmp_path / "labels.csv"
    assert main(["-q", "label", str(smi), "-o", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["name"] for r in rows] == ["ethanol", "acetone"]
    assert rows[0]["alcohol"] == "1" and rows[0]["ketone"] == "0"
    assert rows[1]["ketone"] == "1" and len(rows[1]) == 2 + 37
    out_json = tmp_path / "labels.json"
    assert main(["-q", "label", str(smi), "-o", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    assert len(doc["functional_groups"]) == 37
    assert doc["molecules"][1]["groups"] == ["Alkane", "Ketone"]


def test_invalid_smiles_is_a_clear_error(tmp_path, capsys):
    smi = tmp_path / "bad.smi"
    smi.write_text("CCO ok\nC1CC broken\n")
    assert main(["label", str(smi)]) == 2
    err = capsys.readouterr().err
    assert "bad.smi" in err and "broken" in err and "Traceback" not in err
    assert main(["label", "C(("]) == 2
    assert "C((" in capsys.readouterr().err


def test_skip_invalid_goes_on(tmp_path, capsys):
    smi = tmp_path / "bad.smi"
    smi.write_text("CCO ok\nC1CC broken\nCC#N acn\n")
    assert main(["-q", "label", "--skip-invalid", str(smi)]) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["ok", "acn"]


def test_logfile_and_verbosity(tmp_path):
    log = tmp_path / "logs" / "run.log"
    out = tmp_path / "l.csv"
    assert main(["-v", "--logfile", str(log), "label", "CCO", "-o", str(out)]) == 0
    assert "wrote labels of 1 molecules" in log.read_text()


def test_missing_file_and_bad_output_suffix(tmp_path, capsys):
    assert main(["label", str(tmp_path / "nope.smi")]) == 2
    assert "nope.smi: no such file" in capsys.readouterr().err
    assert main(["label", "CCO", "-o", str(tmp_path / "x.xlsx")]) == 2
    assert "x.xlsx" in capsys.readouterr().err
