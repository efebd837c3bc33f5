"""``mspectmol train`` and ``mspectmol evaluate`` on a tiny dataset folder made in the test."""

import csv
import dataclasses
import json
import re

import pytest

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.cli.main import main
from mspectmol.errors import MspectmolError
from mspectmol.models.io import load_model
from mspectmol.training.config import run_config
from mspectmol.training.pipeline import run_training

N_MOLECULES = 120
SMALL_MODEL = ["--set", "model_config.channels=[4,8]", "--set", "model_config.head_hidden=16",
               "--set", "model_config.gate_hidden=4"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, random_dataset):
    """index.parquet + one chunk of random peak lists, shaped like the embedded dataset."""
    return random_dataset(tmp_path_factory.mktemp("dataset"), n=N_MOLECULES, seed=0,
                          prefix="t")


def test_train_one_epoch_writes_the_run_folder(dataset_dir, tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["-q", "train", "--data", str(dataset_dir), "--model", "pa_ib", "--primary", "ir",
            "--auxiliary", "h_nmr", "c_nmr", "--split", "random", "--epochs", "1",
            "--max-train", "64", "--out", str(out), "--seed", "3", "--no-progress",
            "--threads", "1", "--amp", "--render", "none", "--logfile",
            str(tmp_path / "train.log"), *SMALL_MODEL]
    # --render none: evaluate below must see the validation spectra training scored
    assert main(argv) == 0
    (run_dir,) = out.iterdir()
    assert capsys.readouterr().out.strip() == str(run_dir)
    assert run_dir.name.endswith("-pa_ib-ir")
    files = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "splits.json", "log.csv", "model", "metrics.json"} <= files
    assert "checkpoint" not in files  # removed once the run is complete
    config = json.loads((run_dir / "config.json").read_text())
    assert config["checkpoint_every"] is None
    assert config["devices"] == 1 and config["amp"] is True  # amp: float32 on the CPU
    assert config["epochs"] == 1 and config["max_train"] == 64 and config["seed"] == 3
    assert config["render"] == "none" and config["modality_dropout"] == 0.3
    assert config["resolved_model_config"]["channels"] == [4, 8]
    splits = json.loads((run_dir / "splits.json").read_text())
    assert len(splits["train"]) == 64 and len(splits["val"]) == 20 and len(splits["test"]) == 20
    assert not set(splits["train"]) & set(splits["test"])
    rows = list(csv.DictReader((run_dir / "log.csv").open()))
    assert len(rows) == 1 and rows[0]["epoch"] == "1"
    logged = (tmp_path / "train.log").read_text()          # one INFO line per epoch
    assert re.search(r"INFO mspectmol\.training: epoch 1/1: loss \d\.\d{4} \(sup .*\), val "
                     r"micro-F1 \d\.\d{4} macro-F1 \d\.\d{4}, \d+\.\d s", logged)
    model, meta = load_model(run_dir / "model")
    assert meta.model_name == "pa_ib" and meta.training["n_train"] == 64
    assert len(meta.thresholds) == len(GROUP_NAMES) and meta.temperature > 0
    assert meta.modalities["ir"]["n_points"] == 600 and len(meta.data_hash) == 64
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == 20
    assert 0.0 <= metrics["test"]["at_0.5"]["micro_f1"] <= 1.0
    assert len(metrics["test"]["tuned"]["per_label"]) == len(GROUP_NAMES)

    report = tmp_path / "eval.json"
    assert main(["-q", "evaluate", str(run_dir), "--part", "val", "--data", str(dataset_dir),
                 "-o", str(report)]) == 0
    again = json.loads(report.read_text())
    assert again["split"] == "random" and again["part"] == "val"
    assert again["at_0.5"] == metrics["val"]["at_0.5"]
    assert again["tuned"] == metrics["val"]["tuned"]


def test_bad_configs_are_reported_without_traceback(dataset_dir, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": 1, "learning_rate": 0.1}')
    assert main(["train", "--config", str(bad), "--data", str(dataset_dir)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "learning_rate" in err and "Traceback" not in err
    assert main(["train", "--model", "nope", "--data", str(dataset_dir)]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["train", "--set", "epochs", "--data", str(dataset_dir)]) == 2
    assert "key=value" in capsys.readouterr().err


def _tiny_run(dataset_dir, out, *extra):
    """One epoch on 32 molecules of the recommended recipe; the run folder."""
    assert main(["-q", "train", "--data", str(dataset_dir), "--split", "random", "--epochs", "1",
                 "--max-train", "32", "--out", str(out), "--no-progress", "--threads", "1",
                 *extra, *SMALL_MODEL]) == 0
    (run_dir,) = out.iterdir()
    return run_dir


def test_resume_checks_the_run_folder(dataset_dir, tmp_path, capsys):
    run_dir = _tiny_run(dataset_dir, tmp_path / "runs", "--checkpoint-every", "2")
    capsys.readouterr()
    config = json.loads((run_dir / "config.json").read_text())   # the recommended recipe
    assert config["model"] == "pa_ib" and config["auxiliary"] == ["h_nmr", "c_nmr"]
    assert config["model_config"]["mi1_weight"] == 0 and config["model_config"]["beta"] == 0
    assert config["resolved_model_config"]["label_weighting"] == "sqrt"
    assert config["modality_dropout"] == 0.3 and config["render"] == "randomised"
    assert config["mix"] == 0.5
    assert main(["train", "--resume", str(run_dir)]) == 2
    assert "the run is complete" in capsys.readouterr().err
    assert main(["train", "--resume", str(run_dir), "--epochs", "3", "--set", "lr=1"]) == 2
    assert "drop --epochs, --set" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "nope: run folder not found" in capsys.readouterr().err

    (run_dir / "metrics.json").unlink()
    splits = json.loads((run_dir / "splits.json").read_text())
    (run_dir / "splits.json").write_text(json.dumps({**splits, "val": splits["val"][::-1]}))
    assert main(["train", "--resume", str(run_dir), "--data", str(dataset_dir)]) == 2
    assert "splits.json: the dataset's splits differ" in capsys.readouterr().err
    (run_dir / "splits.json").write_text(json.dumps(splits))
    config = run_config(run_dir, {"data": str(dataset_dir)})
    assert config.checkpoint_every == 2 and config.epochs == 1
    with pytest.raises(MspectmolError, match=r"config\.json: .*other settings \(epochs\)"):
        run_training(dataclasses.replace(config, epochs=2), resume=run_dir)

    # No checkpoint (e.g. killed in the first steps): the run starts again in its folder.
    assert main(["-q", "train", "--resume", str(run_dir), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir)
    assert (run_dir / "metrics.json").is_file() and not (run_dir / "checkpoint").exists()
    assert len(list(csv.DictReader((run_dir / "log.csv").open()))) == 1


def test_evaluate_refuses_a_missing_model(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "no_model")]) == 2
    err = capsys.readouterr().err
    assert "no_model" in err and "not found" in err


def test_mixtures_are_a_recorded_training_setting(dataset_dir, tmp_path, capsys):
    run_dir = _tiny_run(dataset_dir, tmp_path / "runs", "--mix", "0.25")
    assert json.loads((run_dir / "config.json").read_text())["mix"] == 0.25  # recommended: 0.5
    _, meta = load_model(run_dir / "model")
    assert meta.training["mix"] == 0.25 and meta.training["mix_weights"] == [0.3, 1.0]
    assert main(["train", "--data", str(dataset_dir), "--mix", "2"]) == 2
    assert "mix must be in [0, 1]" in capsys.readouterr().err


def test_prior_correction_is_stored_and_applied(dataset_dir, tmp_path, capsys):
    import numpy as np

    from mspectmol.data.batches import split_data
    from mspectmol.models.datasets import dataset_for
    from mspectmol.models.inference import predict_logits, probabilities
    from mspectmol.models.pa_ib import label_pos_weight

    run_dir = _tiny_run(dataset_dir, tmp_path / "runs", "--prior-correction", "0.5",
                        "--render", "none")
    capsys.readouterr()
    model, meta = load_model(run_dir / "model")
    assert meta.training["prior_correction"] == 0.5
    splits = json.loads((run_dir / "splits.json").read_text())
    ds = dataset_for(meta, dataset_dir)
    train_labels = ds.labels[np.isin(ds.ids, splits["train"])]
    assert len(train_labels) == 32
    want = -0.5 * np.log(label_pos_weight(train_labels, "sqrt").numpy())
    np.testing.assert_allclose(meta.logit_offsets, want, rtol=1e-6)
    assert min(meta.logit_offsets) < 0  # some group is rarer than half the molecules
    val = split_data(ds, ("ir", "h_nmr", "c_nmr"), "random", "val")
    prob = probabilities(predict_logits(model, val), meta.temperature, meta.logit_offsets)
    report = tmp_path / "eval.json"
    assert main(["-q", "evaluate", str(run_dir), "--part", "val", "--data", str(dataset_dir),
                 "-o", str(report)]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert json.loads(report.read_text())["at_0.5"] == metrics["val"]["at_0.5"]
    assert metrics["val"]["at_0.5"]["micro_f1"] == pytest.approx(
        micro_f1_at(val.labels, prob), abs=1e-12)
    assert main(["train", "--data", str(dataset_dir), "--prior-correction", "1.5"]) == 2
    assert "prior_correction must be in [0, 1]" in capsys.readouterr().err


def micro_f1_at(labels, prob, threshold=0.5):
    from mspectmol.evaluation import micro_f1

    return micro_f1(labels, prob, threshold)
