"""Run planning: runs per configuration or modality set, settings, hashes and keys."""

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.suites.configurations import Configuration
from mspectmol.suites.definitions import load_suite
from mspectmol.suites.plan import (
    BenchmarkRun,
    dataset_info,
    make_settings,
    model_overrides,
    plan_jobs,
    plan_runs,
    run_key,
    settings_hash,
    train_config,
)

TRIPLE = "ir+c_nmr+h_nmr"


def test_table1_plan_shares_baselines_between_configurations_of_one_set():
    suite = load_suite("table1")
    runs = plan_runs(suite)
    assert len(runs) == 252 and len(suite.configurations) == 7
    one = [r for r in runs if r.seed == 0 and r.split == "scaffold"]
    counts = Counter(r.model for r in one)
    assert counts["pa_ib"] == 7  # one per configuration
    assert all(counts[m] == 5 for m in suite.models if m != "pa_ib")  # one per modality set
    triple = [r for r in one if r.configuration.modality_set == TRIPLE]
    assert sorted(r.configuration.primary for r in triple if r.model == "pa_ib") == [
        "c_nmr", "h_nmr", "ir"]
    cnn = [r for r in triple if r.model == "cnn_concat"]
    assert len(cnn) == 1 and cnn[0].identity()["config"] == "IR + 13C-NMR + 1H-NMR"
    assert cnn[0].identity()["primary"] == "" and not cnn[0].role_aware
    assert Counter((r.seed, r.split) for r in runs) == {
        (s, p): 42 for s in (0, 1, 2) for p in ("random", "scaffold")}
    assert len(plan_runs(load_suite("fusion"))) == 72
    assert len(plan_runs(load_suite("symmetric"))) == 48


def test_settings_merge_suite_defaults_options_and_set_items():
    suite = load_suite("table1")
    s = make_settings(suite, epochs=7, threads=2, overrides=[
        "lr=1e-3", "model_config.dropout=0.3", "pa_ib.channels=[8,16]", "patience=3"])
    assert (s.epochs, s.patience, s.max_train, s.threads) == (7, 3, 2048, 2)
    assert s.train == {"lr": 1e-3}
    assert s.model_config["cnn_concat"] == {"width_scale": 0.1, "dropout": 0.3}
    # table1's PA-IB runs without the auxiliary KL terms and with sqrt label weights;
    # --set items add to that.
    assert s.model_config["pa_ib"] == {"mi1_weight": 0.0, "beta": 0.0,
                                       "label_weighting": "sqrt", "dropout": 0.3,
                                       "channels": [8, 16]}
    assert "dropout" not in s.model_config.get("prevalence", {})
    assert model_overrides("xgboost", s) == {"n_estimators": 100, "n_jobs": 2}
    assert model_overrides("logistic", s)["n_jobs"] == 2
    assert "n_jobs" not in model_overrides("pa_ib", s)
    for bad, text in (("seed=1", "--set seed"), ("split=random", "--set split"),
                      ("learning_rate=1", "--set learning_rate"),
                      ("model_config.no_knob=1", "no_knob")):
        with pytest.raises(ConfigError, match=text):
            make_settings(suite, overrides=[bad])
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        make_settings(suite, overrides=["nope.width=1"])


def test_train_config_is_checked_and_hash_ignores_speed_and_identity():
    suite = load_suite("table1")
    s = make_settings(suite, threads=1)
    run = BenchmarkRun("table1", "pa_ib", Configuration("h_nmr", ("ir", "c_nmr")), True,
                       "random", 2)
    config = train_config(run, s, "out/models")
    assert config.primary == "h_nmr" and config.auxiliary == ("ir", "c_nmr")
    assert (config.seed, config.split, config.progress) == (2, "random", False)
    assert config.epochs == suite.epochs == 24
    other = BenchmarkRun("table1", "pa_ib", Configuration("ir"), True, "scaffold", 0)
    h = settings_hash(config, "abc")
    assert h == settings_hash(train_config(other, make_settings(suite, threads=2), "x"), "abc")
    assert h != settings_hash(config, "abd")
    assert h != settings_hash(train_config(run, make_settings(suite, epochs=5), "o"), "abc")
    # Where a run trains (and how often it checkpoints) does not change its result.
    for speed in ({"device": "auto"}, {"checkpoint_every": 7}, {"devices": 2},
                  {"amp": False}):
        if next(iter(speed)) in config.to_dict():
            moved = make_settings(suite, threads=1)
            moved.train.update(speed)
            assert settings_hash(train_config(run, moved, "o"), "abc") == h
    if "amp" in config.to_dict():
        mixed = make_settings(suite, threads=1)
        mixed.train["amp"] = True
        assert settings_hash(train_config(run, mixed, "o"), "abc") != h
    key = run_key(run, h)
    assert key == f"table1__pa_ib__{TRIPLE}__h_nmr__random__seed2__{h}"
    free = BenchmarkRun("table1", "logistic", Configuration("ir", ("raman",)), False,
                        "random", 0)
    assert "__ir+raman__any__" in run_key(free, h)
    bad = make_settings(suite, overrides=["pa_ib.no_such=1"])
    with pytest.raises(ConfigError, match="no_such"):
        train_config(run, bad, "o")


def test_plan_jobs_keys_are_unique():
    suite = load_suite("table1")
    jobs = plan_jobs(suite, make_settings(suite), "out", "fp")
    assert len({j.key for j in jobs}) == len(jobs) == 252


def test_dataset_info_reads_the_index(tmp_path):
    parts = ["train"] * 6 + ["val"] * 2 + ["test"] * 2
    pq.write_table(pa.table({"id": [f"m{i}" for i in range(10)], "split_random": parts,
                             "split_scaffold": parts[::-1]}), tmp_path / "index.parquet")
    info = dataset_info(tmp_path)
    assert info["molecules"] == 10 and len(info["fingerprint"]) == 12
    assert info["splits"]["scaffold"] == {"train": 6, "val": 2, "test": 2}
    with pytest.raises(MspectmolError, match="missing.*index.parquet"):
        dataset_info(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.parquet").write_text("not parquet")
    with pytest.raises(MspectmolError, match="unreadable dataset index"):
        dataset_info(tmp_path / "bad")


def test_conditions_change_the_hash_and_keys_only_when_present():
    table1 = load_suite("table1")
    run = plan_runs(table1)[0]
    config = train_config(run, make_settings(table1), "o")
    plain = settings_hash(config, "abc")
    assert settings_hash(config, "abc", None) == plain == settings_hash(config, "abc", {})
    assert settings_hash(config, "abc", {"conditions": {"c": {}}}) != plain
    noise = load_suite("noise")
    jobs = plan_jobs(noise, make_settings(noise), "o", "abc")
    same = [j for j in jobs if j.run.model == "logistic"][0]
    assert same.hash != settings_hash(same.config, "abc")
    assert same.key.startswith("noise__logistic__ir+c_nmr+h_nmr__any__")

