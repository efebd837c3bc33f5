"""Benchmark suites, run planning, keys and the rendering of result tables."""

import csv
import json
import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.evaluation.benchmark import (
    BenchmarkRun,
    Configuration,
    dataset_info,
    is_role_aware,
    load_suite,
    make_settings,
    modality_set,
    model_overrides,
    plan_jobs,
    plan_runs,
    run_key,
    settings_hash,
    train_config,
)
from mspectmol.evaluation.benchmark_rows import (
    ROW_FIELDS,
    balanced_shard,
    current_rows,
    estimate_each,
    estimate_seconds,
    load_rows,
    write_row,
)
from mspectmol.evaluation.benchmark_tables import (
    TableLine,
    cost_table,
    format_cell,
    mean_std,
    ranks,
    render_markdown,
    results_table,
    write_csv,
)

TRIPLE = "ir+c_nmr+h_nmr"


# --- suites and planning -------------------------------------------------------------------

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


# --- settings, configs and keys ------------------------------------------------------------

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


# --- rows and tables -----------------------------------------------------------------------

def _row(model, modalities, primary, split, seed, micro, **extra):
    role = model == "pa_ib"
    row = {"suite": "s", "model": model, "config": modalities, "modalities": modalities,
           "primary": primary if role else "", "role_aware": role, "split": split,
           "seed": seed, "micro_f1": micro, "macro_f1": micro / 2, "micro_f1_tuned": 0.5,
           "macro_f1_tuned": None,
           "train_seconds": 10.0 * (1 + modalities.count("+")), "epochs": 4,
           "parameters": 100, "settings_hash": "h", "key": f"{model}-{modalities}-{primary}"
           f"-{split}-{seed}"}
    return {**row, **extra}


LINES = [TableLine("IR", "ir", "ir"), TableLine("**IR** + (13C-NMR, 1H-NMR)", "ir", TRIPLE),
         TableLine("**1H-NMR** + (IR, 13C-NMR)", "h_nmr", TRIPLE)]


def _synthetic_rows():
    rows = []
    for seed, (a, b, c) in enumerate([(0.80, 0.90, 0.70), (0.82, 0.94, 0.74)]):
        rows += [_row("cnn_concat", "ir", "", "scaffold", seed, a),
                 _row("cnn_concat", TRIPLE, "", "scaffold", seed, b),
                 _row("pa_ib", "ir", "ir", "scaffold", seed, a + 0.1),
                 _row("pa_ib", TRIPLE, "ir", "scaffold", seed, b + 0.02),
                 _row("pa_ib", TRIPLE, "h_nmr", "scaffold", seed, c)]
    return rows


def test_mean_std_format_and_ranks():
    mean, std, n = mean_std([0.8, 0.9, 1.0])
    assert (round(mean, 6), round(std, 6), n) == (0.9, 0.1, 3)
    assert math.isnan(mean_std([0.5])[1]) and mean_std([])[2] == 0
    assert format_cell(0.9, 0.1, 3, rank=1) == "**0.900** (0.100)"
    assert format_cell(0.9, 0.1, 2, rank=2, expected=3) == "<u>0.900</u> (0.100) †"
    assert format_cell(0.91234, math.nan, 1) == "0.912"
    assert format_cell(math.nan, math.nan, 0) == "–"
    assert ranks([0.5, 0.7, 0.6, math.nan]) == [0, 1, 2, 0]
    assert ranks([0.7001, 0.7002, 0.6]) == [1, 1, 2]  # equal as displayed
    assert ranks([0.4, math.nan]) == [0, 0]


def test_results_table_matches_role_free_rows_by_modality_set():
    table = results_table(_synthetic_rows(), LINES, ["cnn_concat", "pa_ib"], "scaffold",
                          expected=2)
    lines = table.splitlines()
    assert lines[0] == "| Spectrum config. | 1D-CNN (`cnn_concat`) | MSpecTmol (`pa_ib`) |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| IR | <u>0.810</u> (0.014) | **0.910** (0.014) |"
    # The baseline's single triple run fills both triple lines; PA-IB differs by primary.
    assert lines[3] == "| **IR** + (13C-NMR, 1H-NMR) | <u>0.920</u> (0.028) | **0.940** (0.028) |"
    assert lines[4] == "| **1H-NMR** + (IR, 13C-NMR) | **0.920** (0.028) | <u>0.720</u> (0.028) |"
    short = results_table(_synthetic_rows()[:5], LINES, ["cnn_concat", "pa_ib", "xgboost"],
                          "scaffold", expected=2)
    assert "**0.900** †" in short and short.splitlines()[2].endswith("| – |")
    macro = results_table(_synthetic_rows(), LINES[:1], ["pa_ib"], "scaffold", "macro_f1")
    assert "0.455 (0.007)" in macro
    assert "–" in results_table(_synthetic_rows(), LINES[:1], ["pa_ib"], "random")


def test_render_markdown_cost_table_and_files(tmp_path):
    rows = _synthetic_rows()
    text = render_markdown(rows, title="T", lines=LINES, models=["cnn_concat", "pa_ib"],
                           splits=["scaffold"], settings={"epochs": 30, "mc": {"a": 1}},
                           expected=2, notes=["a note"])
    assert text.startswith("# T\n") and "- epochs: 30" in text and '- mc: {"a": 1}' in text
    assert "## Scaffold split: test micro-F1" in text and "macro-F1" in text
    assert "- a note" in text and "## Training cost" in text
    tuned = render_markdown(rows, title="T", lines=LINES, models=["pa_ib"],
                            splits=["scaffold"], settings={}, threshold="tuned")
    assert "**0.500**" not in tuned and "0.500 (0.000)" in tuned
    assert tuned.split("test macro-F1")[1].count("| – |") == 3  # values missing (NaN)
    with pytest.raises(MspectmolError, match="threshold"):
        render_markdown(rows, title="T", lines=LINES, models=["pa_ib"], splits=["scaffold"],
                        settings={}, threshold="0.3")
    cost = cost_table(rows, ["cnn_concat", "pa_ib", "xgboost"]).splitlines()
    assert cost[2] == "| 1D-CNN (`cnn_concat`) | cpu | 4 | 20.0 | 0.02 | 4.0 | 100 |"
    assert cost[4] == "| XGBoost (`xgboost`) | – | 0 | – | – | – | – |"
    on_gpu = [{**r, "settings": {"device": "cuda"}} if i == 0 else r
              for i, r in enumerate(rows)]
    cost = cost_table(on_gpu, ["cnn_concat"]).splitlines()
    assert [line.split(" | ")[1:3] for line in cost[2:]] == [["cpu", "3"], ["cuda", "1"]]

    path = write_csv([{**rows[0], "fgsim": math.nan}], tmp_path / "r.csv")
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        (read,) = list(reader)
    assert tuple(reader.fieldnames) == ROW_FIELDS
    assert read["fgsim"] == "" and float(read["micro_f1"]) == rows[0]["micro_f1"]


def test_rows_round_trip_and_bad_row_files(tmp_path):
    row = _row("pa_ib", "ir", "ir", "random", 0, 0.5)
    write_row(tmp_path / "runs", row, {"epochs": 3})
    loaded = load_rows(tmp_path / "runs")
    assert loaded[row["key"]]["settings"] == {"epochs": 3}
    assert loaded[row["key"]]["micro_f1"] == 0.5
    assert load_rows(tmp_path / "nothing") == {}
    assert current_rows(loaded.values(), "s", {"pa_ib": "h"}) == list(loaded.values())
    assert current_rows(loaded.values(), "s", {"pa_ib": "other"}) == []
    assert current_rows(loaded.values(), "t", {"pa_ib": "h"}) == []
    (tmp_path / "runs" / "x.json").write_text(json.dumps({"key": "y"}))
    with pytest.raises(MspectmolError, match="x.json"):
        load_rows(tmp_path / "runs")
    (tmp_path / "runs" / "x.json").write_text("{")
    with pytest.raises(MspectmolError, match="x.json: unreadable"):
        load_rows(tmp_path / "runs")


def test_estimate_seconds_from_finished_rows():
    rows = _synthetic_rows()  # pa_ib: 10 s on one modality, 30 s on three
    total, unknown = estimate_seconds([("pa_ib", 1), ("pa_ib", 3), ("pa_ib", 2),
                                       ("xgboost", 1)], rows)
    assert unknown == 1
    assert total == pytest.approx(10 + 30 + np.mean([10 * 2, 10 * 2, 20, 20, 20, 20]))


def test_estimate_each_gives_none_for_unknown_models():
    each = estimate_each([("pa_ib", 3), ("xgboost", 1)], _synthetic_rows())
    assert each == [pytest.approx(30.0), None]


def test_balanced_shards_cover_every_run_once_and_finish_together():
    costs = [600.0, 100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 60.0]
    parts = [balanced_shard(costs, i, 2) for i in (1, 2)]
    assert sorted(parts[0] + parts[1]) == list(range(len(costs)))
    assert parts[0] == [0]  # the longest run alone: 600 s against 600 s of the others
    assert sum(costs[i] for i in parts[1]) == 600.0
    # every other run (the former split) would have given shard 1 600 + 90 + 70 + 50 + 30 + 60
    with_unknown = [10.0, 20.0, None]  # an unknown run counts as the mean, 15 s
    assert balanced_shard(with_unknown, 1, 2) == [1]
    assert balanced_shard(with_unknown, 2, 2) == [2, 0]
    assert balanced_shard([None] * 5, 1, 2) == [0, 2, 4]  # nothing known: round robin
    assert balanced_shard([None] * 5, 2, 2) == [1, 3]
    assert balanced_shard([], 1, 3) == []
    # runs that took 0 s (a prevalence baseline, rounded) still spread over the shards
    assert [balanced_shard([0.0, None, None], i, 3) for i in (1, 2, 3)] == [[1], [2], [0]]
    assert [balanced_shard([0.0, 0.0, 0.0, 0.0], i, 2) for i in (1, 2)] == [[0, 2], [1, 3]]


# --- robustness suites: conditions, training defaults, condition tables ---------------------

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


def test_condition_lines_read_the_rows_condition_metrics(tmp_path):
    lines = [TableLine("IR: clean", "ir", "ir", "clean"),
             TableLine("IR: noisy", "ir", "ir", "noisy")]
    rows = []
    for seed, (clean, noisy) in enumerate([(0.8, 0.6), (0.9, 0.5)]):
        conds = {"clean": {"micro_f1": clean}, "noisy": {"micro_f1": noisy}}
        rows += [_row("pa_ib", "ir", "ir", "scaffold", seed, clean, conditions=conds),
                 _row("logistic", "ir", "", "scaffold", seed, 0.7,
                      conditions={"clean": {"micro_f1": 0.7}})]
    table = results_table(rows, lines, ["pa_ib", "logistic"], "scaffold")
    assert table.splitlines()[0].startswith("| Spectrum config.: test condition |")
    assert "| IR: clean | **0.850** (0.071) | <u>0.700</u> (0.000) |" in table
    assert "| IR: noisy | 0.550 (0.071) | – |" in table  # no noisy metrics: empty cell
    write_csv(rows, tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        read = list(reader)
    assert tuple(reader.fieldnames) == (*ROW_FIELDS, "clean:micro_f1", "noisy:micro_f1")
    assert read[0]["noisy:micro_f1"] == "0.6" and read[1]["noisy:micro_f1"] == ""
