"""Transfer validation columns of benchmark rows and tables, and the ``transfer`` suite."""

import contextlib
import csv
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mspectmol.cli.main import main
from mspectmol.errors import ConfigError
from mspectmol.suites.cells import TableLine
from mspectmol.suites.definitions import load_suite
from mspectmol.suites.plan import make_settings, plan_jobs
from mspectmol.suites.rows import (
    ROW_FIELDS,
    TRANSFER_FIELDS,
    present_macro_f1,
    result_row,
    transfer_fields,
)
from mspectmol.suites.runner import BenchmarkOptions, run_benchmark
from mspectmol.suites.tables import render_markdown, transfer_table, write_csv
from mspectmol.training.evaluate import report_dict

TRIPLE = "ir+c_nmr+h_nmr"
LINE = TableLine("**IR** + (13C-NMR, 1H-NMR)", "ir", TRIPLE)
REPO = Path(__file__).resolve().parents[2]


def _report(micro, per_label):
    return {"micro_f1": micro, "macro_f1": 0.0,
            "per_label": [{"f1": f, "support": s} for f, s in per_label]}


def _transfer(primary="ir"):
    return {"all spectra": {"n_samples": 100,
                            "at_0.5": _report(0.6, [(0.5, 3), (0.0, 0), (1.0, 1)]),
                            "tuned": _report(0.65, [(0.4, 3), (0.2, 1)])},
            f"{primary} alone": {"n_samples": 100,
                                 "at_0.5": _report(0.3, [(0.1, 2), (0.3, 5), (0.0, 0)]),
                                 "tuned": _report(0.35, [(0.2, 2)])}}


def _result(transfer=None):
    test = {"n_samples": 20, **{part: {"micro_f1": 0.8, "macro_f1": 0.4,
                                       "subset_accuracy": 0.1, "fgsim_mean": 0.7}
                                for part in ("at_0.5", "tuned")}}
    metrics = {"test": test, "training": {"best_val_micro_f1": 0.7, "epochs_run": 3,
                                          "best_epoch": 2, "seconds": 5.0}}
    if transfer is not None:
        metrics["transfer"] = transfer
    model = SimpleNamespace(parameters=lambda: [SimpleNamespace(numel=lambda: 4)])
    return SimpleNamespace(metrics=metrics,
                           meta=SimpleNamespace(training={"n_train": 80, "n_val": 20}),
                           train=SimpleNamespace(model=model), run_dir=Path("/out/models/run"))


def _row(transfer=None, **identity):
    ident = {"suite": "s", "model": "pa_ib", "config": "c", "primary": "ir",
             "modalities": TRIPLE, "role_aware": True, "split": "scaffold", "seed": 0,
             **identity}
    return result_row(ident, _result(transfer), key=f"k-{ident['model']}-{ident['seed']}",
                      settings_hash="h", dataset="d", out="/out")


def test_rows_record_transfer_only_when_the_run_has_it():
    plain = _row()
    assert not set(TRANSFER_FIELDS) & set(plain) and plain["micro_f1"] == 0.8
    row = _row(_transfer())
    assert row["transfer_micro_f1"] == 0.6 and row["transfer_alone_micro_f1"] == 0.3
    # macro-F1 over the groups the transfer set has (support > 0), as transfer_check.py
    assert row["transfer_macro_f1"] == pytest.approx(0.75)
    assert row["transfer_alone_macro_f1"] == pytest.approx(0.2)
    assert row["transfer_micro_f1_tuned"] == 0.65 and row["transfer_alone_macro_f1_tuned"] == 0.2
    assert (row["transfer_alone"], row["transfer_n"]) == ("ir", 100)
    single = transfer_fields({"all spectra": _transfer()["all spectra"]})
    assert single["transfer_alone"] == "" and single["transfer_alone_micro_f1"] is None
    assert transfer_fields(None) == {} and transfer_fields({}) == {}


def test_present_macro_f1_is_the_transfer_checks_macro_f1():
    rng = np.random.default_rng(0)
    truth = (rng.random((30, 37)) < 0.1).astype(np.uint8)
    truth[:, 5] = 0  # a group the set lacks, predicted anyway
    prob = rng.random((30, 37)) * 0.7
    prob[:, 5] = 0.9
    names = [f"g{i}" for i in range(37)]
    pred = (prob >= 0.5).astype(int)
    per = [2 * (truth[:, j] & pred[:, j]).sum()
           / max(1, 2 * (truth[:, j] & pred[:, j]).sum() + ((1 - truth[:, j]) & pred[:, j]).sum()
                 + (truth[:, j] & (1 - pred[:, j])).sum())
           for j in np.where(truth.sum(0) > 0)[0]]
    assert present_macro_f1(report_dict(truth, prob, 0.5, names)) == pytest.approx(np.mean(per))


def _rows():
    rows = []
    for seed, (a, b) in enumerate([(0.6, 0.4), (0.7, 0.5)]):
        transfer = _transfer()
        transfer["all spectra"]["at_0.5"]["micro_f1"] = a
        rows += [_row(transfer, seed=seed),
                 _row(_transfer(), seed=seed, model="xgboost", primary="", role_aware=False),
                 _row(None, seed=seed, model="cnn_concat", primary="", role_aware=False)]
        rows[-2].update(transfer_micro_f1=b, micro_f1=0.7)
    return rows


def test_transfer_table_beside_the_test_and_csv_columns(tmp_path):
    rows = _rows()
    table = transfer_table(rows, [LINE], ["pa_ib", "xgboost", "cnn_concat"], "scaffold",
                           expected=2).splitlines()
    assert table[0] == ("| Spectrum config. | Model | test micro-F1 | test macro-F1 | transfer "
                        "micro-F1 (all spectra) | transfer macro-F1 (all spectra) | transfer "
                        "micro-F1 (IR alone) | transfer macro-F1 (IR alone) |")
    assert len(table) == 4  # the CNN's rows have no transfer scores: no line
    assert table[2] == ("| **IR** + (13C-NMR, 1H-NMR) | MSpecTmol (`pa_ib`) | **0.800** (0.000) "
                        "| **0.400** (0.000) | **0.650** (0.071) | **0.750** (0.000) | **0.300** "
                        "(0.000) | **0.200** (0.000) |")  # ties share the bold
    assert table[3].startswith("| **IR** + (13C-NMR, 1H-NMR) | XGBoost (`xgboost`) | <u>0.700</u>"
                               " (0.000) | **0.400** (0.000) | <u>0.450</u> (0.071) |")
    text = render_markdown(rows, title="T", lines=[LINE], models=["pa_ib", "xgboost"],
                           splits=["scaffold"], settings={})
    assert "## Scaffold split: in-domain test and transfer validation set" in text
    assert "## Scaffold split: test micro-F1" in text
    plain = [r for r in rows if r["model"] == "cnn_concat"]
    assert "transfer" not in render_markdown(plain, title="T", lines=[LINE],
                                             models=["cnn_concat"], splits=["scaffold"],
                                             settings={})
    for part, expected in ((rows, (*ROW_FIELDS, *TRANSFER_FIELDS)), (plain, ROW_FIELDS)):
        write_csv(part, tmp_path / "r.csv")
        with (tmp_path / "r.csv").open(encoding="utf-8") as fh:
            assert tuple(csv.DictReader(fh).fieldnames) == expected


def test_the_transfer_suite_plans_three_models_with_three_renderings(tmp_path):
    suite = load_suite("transfer")
    jobs = plan_jobs(suite, make_settings(suite), tmp_path, "fp")
    assert len(jobs) == 9 * 3 and {j.run.split for j in jobs} == {"scaffold"}
    first = {j.run.model: j.config for j in jobs if j.run.seed == 0}
    assert {c.model for c in first.values()} == {"pa_ib", "cnn_concat", "xgboost"}
    for name, config in first.items():
        render, mix = {"fixed": ("none", 0.0), "randomised": ("randomised", 0.0),
                       "randomised_mix": ("randomised", 0.5)}[name.split("-", 1)[1]]
        assert (config.render, config.mix, config.modality_dropout) == (render, mix, 0.3)
        assert config.transfer == "../shared/data/alberts-example/example_data_1.parquet"
        assert config.modalities == ("ir", "c_nmr", "h_nmr")
        assert (config.epochs, config.patience, config.max_train) == (30, 10, 2048)
    assert first["pa_ib-fixed"].model_config["label_weighting"] == "sqrt"
    assert first["cnn_concat-randomised"].model_config["width_scale"] == 0.1
    assert first["xgboost-randomised_mix"].model_config["n_estimators"] == 100
    assert "validation set" in suite.notes and "never" in suite.notes


def test_render_settings_reach_the_randomised_runs_and_their_keys_only(tmp_path):
    suite = load_suite("transfer")
    plain = {j.run.model: j for j in plan_jobs(suite, make_settings(suite), tmp_path, "fp")
             if j.run.seed == 0}
    settings = make_settings(suite, overrides=["render_settings.ir_hbond=0.5"])
    given = {j.run.model: j for j in plan_jobs(suite, settings, tmp_path, "fp")
             if j.run.seed == 0}
    for name, job in given.items():
        randomised = job.config.render == "randomised"
        assert job.config.render_settings == ({"ir_hbond": 0.5} if randomised else {})
        assert (job.key != plain[name].key) == randomised, name
    assert plain["pa_ib-randomised"].config.render_settings == {}


def test_any_suite_takes_a_transfer_set_and_a_missing_file_is_named(tmp_path):
    suite = load_suite("noise")
    plain = plan_jobs(suite, make_settings(suite), tmp_path, "fp")
    given = plan_jobs(suite, make_settings(suite, overrides=["transfer=t.parquet"]), tmp_path,
                      "fp")
    assert {j.config.transfer for j in given} == {"t.parquet"}
    assert not {j.key for j in plain} & {j.key for j in given}
    missing = tmp_path / "nowhere.parquet"
    options = dict(suite="transfer", seeds=[0], out=tmp_path / "b",
                   overrides=[f"transfer={missing}"])
    with pytest.raises(ConfigError, match=f"^{re.escape(str(missing))}: transfer validation "
                                          "file not found"):
        run_benchmark(BenchmarkOptions(**options))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert run_benchmark(BenchmarkOptions(**options, dry_run=True)) == 0
    assert "9 to train" in buffer.getvalue() and f"note: {missing}: transfer" in buffer.getvalue()


def _alberts_like(path, n=5):
    """A tiny Alberts-style parquet: Lorentzian lines on the dataset's native axes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    axes = {"ir_spectra": (np.linspace(400, 4000, 1800), 15.0),
            "h_nmr_spectra": (np.linspace(10, -2, 10000), 0.003),
            "c_nmr_spectra": (np.linspace(230, -20, 10000), 0.03)}
    cols = {"smiles": ["CCO", "CC(=O)O", "c1ccccc1", "CCN", "CC=O"][:n]}
    for col, (x, width) in axes.items():
        cols[col] = [sum(1 / (1 + ((x - c) / (width / 2)) ** 2)
                         for c in rng.uniform(x.min() + 1, x.max() - 1, 4)).astype(
                             np.float32).tolist() for _ in range(n)]
    pq.write_table(pa.table(cols), path)
    return path


def test_quick_transfer_suite_end_to_end(tmp_path, random_dataset):
    data = random_dataset(tmp_path, n=60, seed=4, prefix="x")
    transfer = _alberts_like(tmp_path / "alberts.parquet")
    out = tmp_path / "bench"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["-q", "benchmark", "--suite", "transfer", "--quick", "--data", str(data),
                     "--out", str(out), "--threads", "1", "--set",
                     f"transfer={transfer}"]) == 0, buffer.getvalue()
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {r["model"]: (r["settings"]["render"], r["settings"]["mix"]) for r in rows} == {
        "pa_ib-fixed": ("none", 0.0), "pa_ib-randomised_mix": ("randomised", 0.5),
        "xgboost-randomised": ("randomised", 0.0)}
    assert all(r["transfer_n"] == 5 and r["transfer_alone"] == "ir" for r in rows)
    assert all(0.0 <= r["transfer_micro_f1"] <= 1.0 for r in rows)
    table = (out / "table.md").read_text(encoding="utf-8")
    block = table.split("in-domain test and transfer validation set", 1)[1]
    assert "transfer micro-F1 (IR alone)" in block and "XGBoost, randomised rendering" in block
    assert f"transfer validation set (never trained on): {transfer}" in table


@pytest.mark.skipif(not (REPO / load_suite("transfer").train["transfer"]).is_file(),
                    reason="shared Alberts example not present")
def test_the_suites_transfer_file_reads_as_a_transfer_set():
    from mspectmol.data.transfer import transfer_arrays
    from mspectmol.spectra.preprocessing import canonical_grid

    mods = ("ir", "c_nmr", "h_nmr")
    ids, labels, spectra, _ = transfer_arrays(REPO / load_suite("transfer").train["transfer"],
                                              mods, {m: canonical_grid(m, 600) for m in mods})
    assert len(ids) == 100 and labels.shape == (100, 37) and spectra["h_nmr"].shape == (100, 600)
