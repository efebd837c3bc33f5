"""Recalibrating a finished run equals training it with that prior correction."""

import json

import pytest

from mspectmol.cli.main import main
from mspectmol.errors import MspectmolError
from mspectmol.models.io import load_model
from mspectmol.training.recalibrate import recalibrate_run

SMALL = ["--set", "model_config.channels=[4,8]", "--set", "model_config.head_hidden=16",
         "--set", "model_config.gate_hidden=4"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, random_dataset):
    return random_dataset(tmp_path_factory.mktemp("dataset"), n=120, seed=0, prefix="r")


def _run(dataset_dir, out, *extra):
    assert main(["-q", "train", "--data", str(dataset_dir), "--split", "random", "--epochs",
                 "1", "--max-train", "32", "--out", str(out), "--no-progress", "--threads",
                 "1", "--seed", "2", *extra, *SMALL]) == 0
    (run_dir,) = out.iterdir()
    return run_dir


def test_recalibrated_run_equals_a_run_trained_with_the_correction(dataset_dir, tmp_path,
                                                                   capsys):
    plain = _run(dataset_dir, tmp_path / "a")
    direct = _run(dataset_dir, tmp_path / "b", "--prior-correction", "0.5")
    capsys.readouterr()
    metrics = recalibrate_run(plain, 0.5, write=True)
    want = json.loads((direct / "metrics.json").read_text())
    for part in ("val", "test"):
        assert metrics[part]["at_0.5"] == want[part]["at_0.5"]
        assert metrics[part]["temperature"] == pytest.approx(want[part]["temperature"])
    _, meta = load_model(plain / "model")
    _, meta_direct = load_model(direct / "model")
    assert meta.logit_offsets == pytest.approx(meta_direct.logit_offsets)
    assert meta.thresholds == meta_direct.thresholds
    assert meta.training["prior_correction"] == 0.5
    assert json.loads((plain / "config.json").read_text())["prior_correction"] == 0.5
    assert json.loads((plain / "metrics.json").read_text())["val"]["at_0.5"] == \
        want["val"]["at_0.5"]
    recalibrate_run(plain, 0.0, write=True)  # back to no correction
    _, meta = load_model(plain / "model")
    assert meta.logit_offsets is None and "prior_correction" not in meta.training


def test_a_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(MspectmolError, match="no finished model"):
        recalibrate_run(tmp_path, 0.5)
