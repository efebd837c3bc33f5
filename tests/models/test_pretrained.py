"""The packaged default model: name resolution, loading, and a prediction on shipped examples."""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

import mspectmol
from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.cli.main import main
from mspectmol.errors import ModelFileError
from mspectmol.models.inference import find_model
from mspectmol.models.io import load_model
from mspectmol.models.packaged import PACKAGED_DIRS, find_packaged, packaged_models

EXAMPLES = Path(mspectmol.__file__).parent / "data" / "examples"
CLASSIFIERS = PACKAGED_DIRS["classifier"]
HAS_DEFAULT = (CLASSIFIERS / "default" / "model.json").is_file()
needs_default = pytest.mark.skipif(not HAS_DEFAULT, reason="no packaged default model")


def test_unknown_packaged_name_is_reported():
    with pytest.raises(ModelFileError, match="no packaged classifier model named 'nope'; "
                                             "packaged: default, fixed-rendering"):
        find_packaged("classifier", "nope")


def test_an_existing_path_wins_over_a_packaged_name(tmp_path, monkeypatch):
    (tmp_path / "default").mkdir()
    monkeypatch.chdir(tmp_path)
    assert find_model("default") == Path("default")
    assert find_model(tmp_path / "x") == tmp_path / "x"


@needs_default
def test_default_model_loads_with_its_card():
    folder = find_model(None)
    assert folder == CLASSIFIERS / "default"
    assert find_model("default") == folder
    model, meta = load_model(folder)
    assert meta.model_name == "pa_ib" and meta.primary == "ir"
    assert set(meta.auxiliary) == {"h_nmr", "c_nmr"}
    assert tuple(meta.label_names) == tuple(GROUP_NAMES)
    assert meta.thresholds is not None and len(meta.thresholds) == len(GROUP_NAMES)
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "time per epoch" in card and "| test (" in card
    assert "default" in packaged_models("classifier")


@needs_default
def test_default_model_finds_the_carbonyl_of_the_shipped_aspirin(tmp_path):
    out = tmp_path / "pred"
    argv = ["-q", "predict", "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
            "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"),
            "--c-nmr", str(EXAMPLES / "aspirin_c_nmr.csv"), "-o", str(out),
            "--format", "json", "--no-progress"]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv) == 0
    result = json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))
    text = json.dumps(result)
    assert "Arene" in text
    probs = _probabilities(result)
    assert probs["Arene"] > 0.5
    assert np.isfinite(list(probs.values())).all()


def _probabilities(result):
    """{group: probability} from a predict JSON report, whatever its nesting."""
    for key in ("probabilities", "groups", "predictions"):
        if key in result:
            block = result[key]
            if isinstance(block, dict):
                return {k: float(v if not isinstance(v, dict) else v["probability"])
                        for k, v in block.items()}
            return {g["name"] if "name" in g else g["group"]: float(g["probability"])
                    for g in block}
    raise AssertionError(f"no probabilities in {sorted(result)}")
