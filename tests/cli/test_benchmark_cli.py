"""``mspectmol benchmark --quick`` end to end on a tiny dataset folder made in the test."""

import contextlib
import csv
import io
import json
import sys

import pytest

from mspectmol.cli.main import main
from mspectmol.suites.rows import ROW_FIELDS

N_MOLECULES = 120
QUICK_MODELS = {"pa_ib", "cnn_concat", "transformer", "logistic", "prevalence"}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, random_dataset):
    """index.parquet + one chunk of random peak lists, shaped like the embedded dataset."""
    return random_dataset(tmp_path_factory.mktemp("dataset"), n=N_MOLECULES, seed=1,
                          prefix="b")


def run_main(argv):
    """``main(argv)`` -> (exit status, what it printed)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(argv)
    return status, buffer.getvalue()


@pytest.fixture(scope="module")
def quick_run(dataset_dir, tmp_path_factory):
    """One ``--quick`` table1 run; returns (output folder, argv, stdout)."""
    out = tmp_path_factory.mktemp("bench") / "table1"
    argv = ["-q", "benchmark", "--quick", "--data", str(dataset_dir), "--out", str(out),
            "--threads", "1"]
    status, stdout = run_main(argv)
    assert status == 0
    return out, argv, stdout


def test_quick_suite_writes_rows_results_and_tables(quick_run):
    out, _, stdout = quick_run
    # 2 configurations (IR; IR + (13C, 1H)) x 5 models, one seed, scaffold split.
    assert "10 runs planned, 0 already finished, 10 to train" in stdout
    assert len(list((out / "runs").glob("*.json"))) == 10
    with (out / "results.csv").open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == ROW_FIELDS
        rows = list(reader)
    assert len(rows) == 10
    assert {r["model"] for r in rows} == QUICK_MODELS
    assert {r["split"] for r in rows} == {"scaffold"} and {r["seed"] for r in rows} == {"0"}
    assert {r["suite"] for r in rows} == {"table1-quick"}
    assert {r["modalities"] for r in rows} == {"ir", "ir+c_nmr+h_nmr"}
    for r in rows:
        assert 0.0 <= float(r["micro_f1"]) <= 1.0 and 0.0 <= float(r["fgsim_tuned"]) <= 1.0
        assert int(r["n_train"]) == 80 and int(r["n_test"]) == 20
        assert int(r["parameters"]) > 0 and float(r["train_seconds"]) >= 0
        assert (r["primary"] == "ir") == (r["model"] == "pa_ib")
        assert (out / r["run_dir"] / "metrics.json").is_file()
        assert not (out / r["run_dir"] / "model").exists()  # no --keep-models
    neural = [r for r in rows if r["model"] in ("pa_ib", "cnn_concat", "transformer")]
    assert all(1 <= int(r["epochs"]) <= 2 for r in neural)
    pa_ib = {r["config"] for r in rows if r["model"] == "pa_ib"}
    assert pa_ib == {"IR", "IR + (13C-NMR, 1H-NMR)"}
    stored = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert len(stored) == 10 and stored[0]["settings"]["epochs"] == 2
    assert stored[0]["settings"]["max_train"] == 96

    table = (out / "table.md").read_text(encoding="utf-8")
    assert "## Scaffold split: test micro-F1" in table
    assert "## Scaffold split: test macro-F1" in table and "Random split" not in table
    assert "| **IR** + (13C-NMR, 1H-NMR) |" in table and "| IR |" in table
    assert "MSpecTmol (`pa_ib`)" in table and "1D-CNN (`cnn_concat`)" in table
    assert "- epochs (maximum): 2" in table and "- max-train: 96" in table
    assert "CPU cores" in table and "120 molecules" in table
    assert "## Training cost" in table
    micro = table.split("test micro-F1")[1].split("##")[0]
    assert micro.count("**") >= 2  # a best value in bold on some line


def test_rerun_skips_finished_runs(quick_run, monkeypatch):
    out, argv, _ = quick_run
    import mspectmol.training.pipeline as pipeline

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(pipeline, "run_training", no_training)
    before = (out / "results.csv").read_text(encoding="utf-8")
    status, stdout = run_main(argv)
    assert status == 0
    assert "10 runs planned, 10 already finished, 0 to train" in stdout
    assert (out / "results.csv").read_text(encoding="utf-8") == before


def test_changed_settings_plan_new_runs(quick_run):
    out, argv, _ = quick_run
    # Another learning rate changes every key; thread counts change none.
    status, stdout = run_main([*argv, "--dry-run", "--set", "lr=2e-3"])
    assert status == 0 and "10 runs planned, 0 already finished, 10 to train" in stdout
    assert "  pa_ib: IR + (13C-NMR, 1H-NMR), scaffold split, seed 0" in stdout
    status, stdout = run_main([*argv, "--dry-run", "--threads", "2"])
    assert status == 0 and "10 runs planned, 10 already finished, 0 to train" in stdout
    status, stdout = run_main([*argv, "--dry-run", "--models", "pa_ib", "logistic",
                               "--set", "pa_ib.dropout=0.3"])
    assert status == 0 and "4 runs planned, 2 already finished, 2 to train" in stdout
    # The time estimate comes from the finished runs of the same models.
    assert "estimated training time" in stdout


def test_bad_options_are_reported_without_traceback(dataset_dir, tmp_path, capsys):
    base = ["benchmark", "--quick", "--data", str(dataset_dir), "--out", str(tmp_path / "o")]
    assert main([*base, "--suite", "nope"]) == 2
    assert "unknown benchmark suite 'nope'" in capsys.readouterr().err
    assert main([*base, "--set", "seed=3"]) == 2
    assert "--set seed" in capsys.readouterr().err
    assert main([*base, "--set", "model_config.no_such_knob=1"]) == 2
    assert "no_such_knob" in capsys.readouterr().err
    assert main([*base, "--models", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main([*base[:2], "--data", str(tmp_path / "missing"), *base[4:]]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "index.parquet" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_corrupt_row_file_is_named(tmp_path, dataset_dir, capsys):
    copy = tmp_path / "copy"
    (copy / "runs").mkdir(parents=True)
    bad = copy / "runs" / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    argv = ["benchmark", "--quick", "--data", str(dataset_dir), "--out", str(copy),
            "--dry-run"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "broken.json" in err and "unreadable benchmark row" in err


def test_a_failing_run_is_reported_and_retried_later(dataset_dir, tmp_path, monkeypatch,
                                                      capsys):
    import mspectmol.training.pipeline as pipeline
    from mspectmol.errors import MspectmolError

    real = pipeline.run_training

    def fail_logistic(config, **kwargs):
        if config.model == "logistic":
            raise MspectmolError("simulated failure")
        return real(config, **kwargs)

    argv = ["benchmark", "--quick", "--data", str(dataset_dir), "--out", str(tmp_path),
            "--models", "prevalence", "logistic", "--threads", "1"]
    monkeypatch.setattr(pipeline, "run_training", fail_logistic)
    status, _ = run_main(argv)
    assert status == 1
    err = capsys.readouterr().err
    assert "2 of 4 runs failed" in err and "simulated failure" in err
    rows = list(csv.DictReader((tmp_path / "results.csv").open(encoding="utf-8")))
    assert {r["model"] for r in rows} == {"prevalence"} and len(rows) == 2
    table = (tmp_path / "table.md").read_text(encoding="utf-8")
    # Columns: the suite's models (cnn_concat, transformer, logistic, prevalence, pa_ib).
    assert "| IR | – | – | – | 0.000 | – |" in table
    monkeypatch.setattr(pipeline, "run_training", real)
    status, stdout = run_main([*argv, "--keep-models"])
    assert status == 0 and "4 runs planned, 2 already finished, 2 to train" in stdout
    rows = list(csv.DictReader((tmp_path / "results.csv").open(encoding="utf-8")))
    kept = [r for r in rows if r["model"] == "logistic"]
    assert len(kept) == 2 and all((tmp_path / r["run_dir"] / "model").is_dir() for r in kept)


def test_shards_split_the_remaining_runs_and_leave_tables_to_a_final_call(
        dataset_dir, tmp_path):
    out = tmp_path / "sharded"
    base = ["-q", "benchmark", "--quick", "--data", str(dataset_dir), "--out", str(out),
            "--threads", "1", "--models", "logistic", "prevalence"]
    status, stdout = run_main([*base, "--shard", "2/3"])
    assert status == 0 and "shard 2/3: 1 runs" in stdout
    assert len(list((out / "runs").glob("*.json"))) == 1
    assert not (out / "table.md").exists()  # a shard writes rows only
    status, stdout = run_main([*base, "--shard", "1/3", "--device", "cpu"])
    assert status == 0 and "4 runs planned, 1 already finished, 3 to train" in stdout
    assert "shard 1/3: 1 runs" in stdout
    status, stdout = run_main([*base, "--dry-run"])
    assert "4 runs planned, 2 already finished, 2 to train" in stdout


@pytest.mark.parametrize("shard", ["0/2", "3/2", "a/b", "2"])
def test_bad_shard_is_refused(dataset_dir, tmp_path, capsys, shard):
    argv = ["benchmark", "--quick", "--data", str(dataset_dir), "--out", str(tmp_path / "o"),
            "--shard", shard]
    assert main(argv) == 2
    assert "--shard must be I/N" in capsys.readouterr().err


# --- robustness suites (test-time conditions) ----------------------------------------------

ROBUST_MODELS = ("MSpecTmol (`pa_ib`)", "1D-CNN (`cnn_concat`)", "Logistic (`logistic`)")


def robust_rows(out):
    """Rows of results.json and the table of a robustness suite's output folder."""
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return rows, (out / "table.md").read_text(encoding="utf-8")


def table_lines(table, heading):
    """The body lines (after header and rule) of the table under ``heading``."""
    part = table.split(heading)[1].split("\n## ")[0]
    lines = [li for li in part.splitlines() if li.startswith("|")]
    return lines[0], lines[2:]


@pytest.mark.parametrize("suite, conditions, titles", [
    ("noise", ["clean", "sigma_0.02", "sigma_0.05", "sigma_0.10"],
     ["unperturbed", "σ = 0.02 × max", "σ = 0.05 × max", "σ = 0.10 × max"]),
    ("missing", ["none", "ir", "c_nmr", "h_nmr"],
     ["unperturbed", "without IR", "without 13C-NMR", "without 1H-NMR"]),
])
def test_quick_robustness_suites_evaluate_every_condition(dataset_dir, tmp_path, suite,
                                                          conditions, titles):
    out = tmp_path / suite
    argv = ["-q", "benchmark", "--suite", suite, "--quick", "--data", str(dataset_dir),
            "--out", str(out), "--threads", "1"]
    status, stdout = run_main(argv)
    assert status == 0 and "3 runs planned, 0 already finished, 3 to train" in stdout
    rows, table = robust_rows(out)
    assert {r["model"] for r in rows} == {"pa_ib", "cnn_concat", "logistic"}
    assert {r["suite"] for r in rows} == {f"{suite}-quick"}
    for r in rows:
        assert list(r["conditions"]) == conditions
        for metrics in r["conditions"].values():
            assert 0.0 <= metrics["micro_f1"] <= 1.0 and 0.0 <= metrics["micro_f1_tuned"] <= 1
        # The unperturbed condition is the run's own test result.
        assert r["conditions"][conditions[0]]["micro_f1"] == r["micro_f1"]
        assert r["settings"]["modality_dropout"] == (0.3 if suite == "missing" else 0.0)
    header, lines = table_lines(table, "## Scaffold split: test micro-F1")
    assert header.startswith("| Spectrum config.: test condition |")
    assert all(m in header for m in ROBUST_MODELS)
    assert [li.split(" | ")[0] for li in lines] == [
        f"| **IR** + (13C-NMR, 1H-NMR): {t}" for t in titles]
    assert all("–" not in li.split(" | ", 1)[1] for li in lines)  # every cell filled
    def cells(line):
        return [c.strip() for c in line.strip("|").split("|")]

    column = cells(header).index(ROBUST_MODELS[0])
    pa_ib = next(r for r in rows if r["model"] == "pa_ib")
    for line, name in zip(lines, conditions, strict=True):
        shown = cells(line)[column].replace("*", "").replace("<u>", "").replace("</u>", "")
        assert shown == f"{pa_ib['conditions'][name]['micro_f1']:.3f}"
    assert "## Scaffold split: test macro-F1" in table and "- test conditions: " in table
    assert f"- modality dropout (training): {0.3 if suite == 'missing' else 0.0}" in table
    with (out / "results.csv").open(encoding="utf-8") as fh:
        fields = csv.DictReader(fh).fieldnames
    assert tuple(fields[:len(ROW_FIELDS)]) == ROW_FIELDS
    assert f"{conditions[1]}:micro_f1" in fields
    # The conditions are part of the key: a suite without them plans other runs.
    assert all(r["key"].startswith(f"{suite}-quick__") for r in rows)
    status, stdout = run_main([*argv, "--dry-run"])
    assert "3 runs planned, 3 already finished, 0 to train" in stdout


def test_task_suites_go_to_their_own_harness_with_the_parsed_options(tmp_path, monkeypatch):
    from mspectmol.cli import benchmark

    (tmp_path / "toy_task_harness.py").write_text(
        "CALLS = []\n\n\ndef run_suite(args):\n    CALLS.append(args)\n    return 3\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(benchmark.TASK_SUITES, "toy_task", "toy_task_harness")
    assert main(["benchmark", "--suite", "toy_task", "--quick", "--seeds", "4"]) == 3
    harness = sys.modules.pop("toy_task_harness")
    (args,) = harness.CALLS
    assert (args.suite, args.quick, args.seeds) == ("toy_task", True, [4])
