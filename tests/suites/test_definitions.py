"""Suite files: configurations, models, the quick variant, conditions and their checks."""

import json

import pytest

from mspectmol.errors import ConfigError
from mspectmol.suites.configurations import Configuration, modality_set
from mspectmol.suites.definitions import is_role_aware, load_suite
from mspectmol.suites.plan import make_settings, plan_runs, train_config

TRIPLE = "ir+c_nmr+h_nmr"


def test_configuration_labels_and_sets():
    c = Configuration("c_nmr", ("ir", "h_nmr"))
    assert c.modalities == ("c_nmr", "ir", "h_nmr")
    assert c.modality_set == TRIPLE == modality_set(["h_nmr", "ir", "c_nmr"])
    assert c.label() == "13C-NMR + (IR, 1H-NMR)"
    assert c.label(markdown=True) == "**13C-NMR** + (IR, 1H-NMR)"
    assert Configuration("ir").label(markdown=True) == "IR"


def test_role_awareness_comes_from_the_model_config():
    assert is_role_aware("pa_ib")
    assert not any(is_role_aware(m) for m in ("cnn_concat", "transformer", "xgboost",
                                              "prevalence", "symmetric_ib", "fusion_mid"))


def test_quick_variant_and_model_subsets():
    quick = load_suite("table1", quick=True)
    assert quick.name == "table1-quick" and quick.seeds == (0,)
    assert quick.splits == ("scaffold",) and quick.epochs == 2 and quick.max_train == 96
    assert set(quick.models) == {"pa_ib", "cnn_concat", "transformer", "logistic", "prevalence"}
    assert [c.label() for c in quick.configurations] == ["IR", "IR + (13C-NMR, 1H-NMR)"]
    assert len(plan_runs(quick)) == 10
    assert len(plan_runs(quick, ["pa_ib", "pa_ib", "logistic"])) == 4
    for name in ("fusion", "symmetric"):
        assert len(plan_runs(load_suite(name, quick=True))) >= 4


def test_suite_files_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="unknown benchmark suite 'nope'"):
        load_suite("nope")
    good = {"name": "mine", "configurations": [["raman", "ir"]], "models": ["logistic"]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(good))
    suite = load_suite(path)
    assert suite.name == "mine" and suite.configurations[0].modality_set == "ir+raman"
    path.write_text(json.dumps({**good, "configurations": [["xray"]]}))
    with pytest.raises(ConfigError, match="mine.json.*xray"):
        load_suite(path)
    path.write_text(json.dumps({**good, "splits": ["temporal"]}))
    with pytest.raises(ConfigError, match="mine.json"):
        load_suite(path)


def test_robustness_suites_carry_conditions_and_training_defaults(tmp_path):
    noise, missing = load_suite("noise"), load_suite("missing")
    assert [c.noise for c in noise.conditions] == [0.0, 0.02, 0.05, 0.10]
    assert [c.mask for c in missing.conditions] == [(), ("ir",), ("c_nmr",), ("h_nmr",)]
    assert missing.train == {"modality_dropout": 0.3} and noise.train == {}
    assert "pa_ib" in missing.models and len(missing.models) > 1
    lines = noise.lines()
    assert [li.condition for li in lines] == ["clean", "sigma_0.02", "sigma_0.05", "sigma_0.10"]
    assert lines[1].title == "**IR** + (13C-NMR, 1H-NMR): σ = 0.02 × max"
    quick = load_suite("missing", quick=True)
    assert quick.conditions == missing.conditions and quick.train == missing.train
    # Suite training defaults reach the runs and their hash; --set still wins.
    run = plan_runs(missing)[0]
    assert train_config(run, make_settings(missing), "o").modality_dropout == 0.3
    off = make_settings(missing, overrides=["modality_dropout=0"])
    assert train_config(run, off, "o").modality_dropout == 0.0
    good = {"name": "mine", "configurations": [["ir", "c_nmr"]], "models": ["logistic"]}
    path = tmp_path / "mine.json"
    for bad, text in (({"train": {"seed": 1}}, "train: seed"),
                      ({"train": {"epochs": 3}}, "train: epochs"),
                      ({"train": {"nope": 3}}, "train: nope"),
                      ({"conditions": {"x": {"noise": -0.1}}}, "condition 'x'")):
        path.write_text(json.dumps({**good, **bad}))
        with pytest.raises(ConfigError, match=f"mine.json.*{text}"):
            load_suite(path)
    # A condition masking a modality a configuration lacks gets no line there.
    path.write_text(json.dumps({**good, "configurations": [["ir"], ["ir", "c_nmr"]],
                                "conditions": {"all": {}, "no_c": {"mask": ["c_nmr"]}}}))
    assert [(li.modalities, li.condition) for li in load_suite(path).lines()] == [
        ("ir", "all"), ("ir+c_nmr", "all"), ("ir+c_nmr", "no_c")]

