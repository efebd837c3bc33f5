"""A command imports what it needs: ``predict --format json`` with a PA-IB model loads no
torch (the NumPy engine runs it), no RDKit without a SMILES, no plotting, no baseline model
family and no benchmark code; ``predict --format html`` draws its figure as SVG, so it loads
no matplotlib and no torch either; ``mspectmol --help`` does not even load torch. Checked in
fresh interpreters through ``sys.modules``."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from mspectmol.cli.main import COMMANDS, build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"
HEAVY = ("matplotlib", "mspectmol.models.baselines_nn", "mspectmol.models.baselines_transformer",
         "mspectmol.models.baselines_classical", "mspectmol.models.baselines_xgboost", "xgboost",
         "sklearn", "mspectmol.explain.plots", "mspectmol.explain.coerror", "mspectmol.suites",
         "mspectmol.structure", "mspectmol.conformers", "mspectmol.training", "torch_geometric",
         "pyarrow", "scipy.special", "mspectmol.data.dataset",
         "rdkit.Chem.Draw")


def _imported(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


def test_predict_json_imports_no_plotting_or_other_model_families(tmp_path):
    argv = ["predict", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--h-nmr",
            str(EXAMPLES / "aspirin_h_nmr.jdx"), "--c-nmr", str(EXAMPLES / "aspirin_c_nmr.csv"),
            "--format", "json", "-o", str(tmp_path / "out")]
    modules = _imported(f"from mspectmol.cli.main import main\nassert main({argv!r}) == 0")
    assert (tmp_path / "out").exists()
    assert "mspectmol.models.numpy_pa_ib" in modules  # the model did run
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_predict_html_imports_no_matplotlib_and_no_torch(tmp_path):
    argv = ["predict", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--h-nmr",
            str(EXAMPLES / "aspirin_h_nmr.jdx"), "--c-nmr", str(EXAMPLES / "aspirin_c_nmr.csv"),
            "--format", "html", "--no-progress", "-o", str(tmp_path)]
    modules = _imported(f"from mspectmol.cli.main import main\nassert main({argv!r}) == 0")
    html = (tmp_path / "aspirin.html").read_text()
    assert html.count('<g class="panel"') == 3 and "mspectmol.predict.figure" in modules
    assert "mspectmol.models.numpy_pa_ib" in modules
    assert not {m for m in modules if m.split(".")[0] in ("torch", "matplotlib")}
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_predict_html_with_a_smiles_draws_the_molecule_without_matplotlib(tmp_path):
    argv = ["predict", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--smiles",
            "CC(=O)Oc1ccccc1C(=O)O", "--format", "html", "--no-progress", "-o", str(tmp_path)]
    modules = _imported(f"from mspectmol.cli.main import main\nassert main({argv!r}) == 0")
    html = next(tmp_path.glob("*.html")).read_text()
    assert html.count("data:image/png;base64,") == 1 and '<svg class="spectra"' in html
    assert not {m for m in modules if m.split(".")[0] in ("torch", "matplotlib")}


def test_predict_json_of_the_examples_never_imports_torch(tmp_path):
    argv = ["predict", "--folder", str(EXAMPLES), "--format", "json", "-o", str(tmp_path)]
    modules = _imported(f"from mspectmol.cli.main import main\nassert main({argv!r}) == 0")
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "aspirin.json", "chloroacetophenone.json", "paracetamol.json"]
    assert not {m for m in modules if m == "torch" or m.startswith("torch.")}
    assert "rdkit" not in modules


def test_loading_a_pa_ib_model_for_numpy_never_imports_torch():
    modules = _imported("from mspectmol.models.inference import find_model\n"
                        "from mspectmol.models.numpy_inference import load_classifier\n"
                        "model, meta = load_classifier(find_model(None))\n"
                        "assert type(model).__name__ == 'NumpyPAIB', type(model)")
    assert "torch" not in modules


def test_predict_engine_torch_runs_the_torch_module(tmp_path):
    argv = ["predict", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--format", "json",
            "--engine", "torch", "-o", str(tmp_path)]
    modules = _imported(f"from mspectmol.cli.main import main\nassert main({argv!r}) == 0")
    assert "torch" in modules and "mspectmol.models.pa_ib" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_top_level_help_imports_no_command_module():
    modules = _imported("from mspectmol.cli.main import build_parser\n"
                        "build_parser([]).format_help()")
    assert "torch" not in modules
    assert not {m for m in modules if m.startswith("mspectmol.cli.") and
                m.rsplit(".", 1)[1] in COMMANDS}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_registers_the_listed_name_and_help(name):
    module, text = COMMANDS[name]
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"mspectmol.cli.{module}").add_parser(sub, parents=[])
    assert name in sub.choices
    help_of = {a.dest: a.help for a in sub._choices_actions}
    assert help_of[name] == text


def test_full_parser_knows_every_command():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)
