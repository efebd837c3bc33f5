"""``mspectmol train`` and ``evaluate`` on Alberts et al. parquet data, with MS/MS auxiliaries.

The last test is a smoke test on the shared 100-molecule example (the project's transfer
validation set): it checks that the chain runs and writes metrics, and reports nothing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from mspectmol.cli.main import main

SHARED = Path(os.environ.get("MSPECTMOL_SHARED", Path(__file__).resolve().parents[3] / "shared"))
EXAMPLE = SHARED / "data" / "alberts-example" / "example_data_1.parquet"
SMALL = ["--set", "model_config.channels=[4,8]", "--set", "model_config.head_hidden=16",
         "--set", "model_config.gate_hidden=4"]


@pytest.fixture(scope="module")
def chunks(tmp_path_factory, alberts_dataset):
    """A folder of two chunks (the form the full dataset comes in)."""
    folder = tmp_path_factory.mktemp("alberts") / "chunks"
    folder.mkdir()
    alberts_dataset(folder / "part-0.parquet", n=30, seed=0)
    alberts_dataset(folder / "part-1.parquet", n=20, seed=5)
    return folder


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path_factory.getbasetemp() / "cli-cache"))


def _train(data, out, *extra):
    return main(["-q", "train", "--data", str(data), "--primary", "ir", "--auxiliary",
                 "msms_pos", "msms_neg", "--output", str(out), "--no-progress", "--threads",
                 "1", *extra])


def test_train_ir_with_msms_auxiliaries_then_evaluate(chunks, tmp_path, capsys):
    assert _train(chunks, tmp_path / "runs", "--epochs", "2", *SMALL) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert capsys.readouterr().out.strip() == str(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"] == str(chunks) and config["auxiliary"] == ["msms_pos", "msms_neg"]
    assert config["render"] == "none"          # the packaged default's randomised, replaced
    assert config["modality_dropout"] == 0.3   # the rest of the recommended recipe stays
    splits = json.loads((run_dir / "splits.json").read_text())
    assert splits["scheme"] == "scaffold" and len(splits["train"]) + len(splits["val"]) + len(
        splits["test"]) == 50
    assert {k.partition(":")[0] for k in splits["train"]} == {"part-0", "part-1"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == 2 and "micro_f1" in metrics["test"]["at_0.5"]
    out = tmp_path / "eval.json"
    assert main(["-q", "evaluate", str(run_dir), "--data", str(chunks), "--part", "val",
                 "-o", str(out)]) == 0
    scored = json.loads(out.read_text())
    assert scored["part"] == "val" and scored["at_0.5"] == metrics["val"]["at_0.5"]


def test_an_explicit_randomised_rendering_is_refused(chunks, tmp_path, capsys):
    assert _train(chunks, tmp_path / "runs", "--epochs", "1", "--render", "randomised") == 2
    assert "use --render none" in capsys.readouterr().err


def test_an_msms_modality_needs_parquet_data(tmp_path, capsys):
    assert _train(tmp_path / "nothing-here", tmp_path / "runs", "--epochs", "1") == 2
    assert "msms_pos" in capsys.readouterr().err


@pytest.mark.skipif(not EXAMPLE.is_file(), reason="shared Alberts example not present")
def test_smoke_on_the_shared_example(tmp_path, capsys):
    """Smoke test only (the example is a validation set): one epoch, metrics written."""
    start = time.perf_counter()
    assert _train(EXAMPLE, tmp_path / "runs", "--epochs", "1", "--split", "random",
                  *SMALL) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == 10 and metrics["val"]["n_samples"] == 10
    assert main(["-q", "evaluate", str(run_dir), "--data", str(EXAMPLE), "-o",
                 str(tmp_path / "eval.json")]) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["n_samples"] == 10
    print(f"smoke run on the shared example: {time.perf_counter() - start:.1f} s")
