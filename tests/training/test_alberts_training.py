"""Training and evaluating on Alberts et al. parquet data, with the MS/MS modalities."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mspectmol.errors import ConfigError, UnknownModalityError
from mspectmol.models.inference import output_logits
from mspectmol.models.registry import available_models, config_field_names, get_model_spec
from mspectmol.training.config import TrainConfig
from mspectmol.training.data_source import load_run_dataset
from mspectmol.training.pipeline import evaluate_saved, run_training

MODS = ("ir", "msms_pos", "msms_neg")
#: Small settings where a model has them (the shapes are what is tested).
SMALL = {"n_estimators": 2, "max_iter": 5, "width_scale": 0.01, "n_jobs": 1}
TINY_PA_IB = {"channels": [4, 8], "head_hidden": 16, "gate_hidden": 4}


@pytest.fixture(scope="module")
def chunk(tmp_path_factory, alberts_dataset):
    return alberts_dataset(tmp_path_factory.mktemp("alberts") / "chunk.parquet", n=40, seed=3)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path_factory.getbasetemp() / "msms-cache"))


@pytest.mark.parametrize("name", available_models())
def test_every_registered_model_takes_the_msms_modalities(name):
    spec = get_model_spec(name)
    fields = config_field_names(spec.config_cls)
    config = spec.make_config({k: v for k, v in SMALL.items() if k in fields}, primary="ir",
                              auxiliary=MODS[1:], n_points=600, n_labels=37)
    model = spec.build(config)
    rng = np.random.default_rng(0)
    x = {m: rng.random((8, 600), dtype=np.float32) for m in MODS}
    y = (rng.random((8, 37)) < 0.3).astype(np.float32)
    y[0], y[1] = 1.0, 0.0  # both classes of every group
    if spec.kind == "classical":
        probabilities = model.fit(x, y, x, y).predict_proba(x)
        assert np.shape(probabilities) == (8, 37)
    else:
        model.eval()
        with torch.inference_mode():
            logits = output_logits(model({m: torch.from_numpy(v) for m, v in x.items()}))
        assert logits.shape == (8, 37) and torch.isfinite(logits).all()


@pytest.mark.parametrize(("model", "primary", "auxiliary"), [
    ("pa_ib", "ir", ("msms_pos", "msms_neg")), ("pa_ib", "msms_pos", ("ir",)),
    ("cnn_concat", "msms_neg", ("msms_pos",))])
def test_training_and_evaluation_on_parquet_data(chunk, tmp_path, model, primary, auxiliary):
    config = TrainConfig(model=model, primary=primary, auxiliary=auxiliary, split="random",
                         epochs=1, data=str(chunk), out=str(tmp_path), progress=False,
                         model_config=TINY_PA_IB if model == "pa_ib" else {"width_scale": 0.01})
    result = run_training(config)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == 4 and 0.0 <= metrics["test"]["at_0.5"]["micro_f1"] <= 1
    assert list(result.meta.modalities) == [primary, *auxiliary]
    assert result.meta.modalities[primary]["x_unit"] == ("m/z" if primary != "ir" else "cm-1")
    splits = json.loads((result.run_dir / "splits.json").read_text())
    parts = [set(splits[p]) for p in ("train", "val", "test")]
    assert sum(map(len, parts)) == 40 and len(set().union(*parts)) == 40
    assert all(k.startswith("chunk:") for k in splits["test"])
    again = evaluate_saved(result.run_dir, data=chunk)
    assert again["split"] == "random" and again["part"] == "test"
    assert again["at_0.5"] == metrics["test"]["at_0.5"]


def test_refusals_name_the_fix(chunk, tmp_path):
    with pytest.raises(ConfigError, match="use --render none"):
        run_training(TrainConfig(data=str(chunk), render="randomised", out=str(tmp_path)))
    with pytest.raises(UnknownModalityError, match="embedded dataset has no 'msms_pos'"):
        load_run_dataset(["ir", "msms_pos"], 600, None)
    with pytest.raises(UnknownModalityError, match="Alberts et al. data has no raman"):
        load_run_dataset(["ir", "raman"], 600, chunk)
