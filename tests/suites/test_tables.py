"""Benchmark tables: cells, results tables by configuration and condition, Markdown, CSV."""

import csv
import math

import pytest

from mspectmol.errors import MspectmolError
from mspectmol.suites.cells import TableLine, format_cell, mean_std, ranks
from mspectmol.suites.rows import ROW_FIELDS
from mspectmol.suites.tables import cost_table, render_markdown, results_table, write_csv

TRIPLE = "ir+c_nmr+h_nmr"
LINES = [TableLine("IR", "ir", "ir"), TableLine("**IR** + (13C-NMR, 1H-NMR)", "ir", TRIPLE),
         TableLine("**1H-NMR** + (IR, 13C-NMR)", "h_nmr", TRIPLE)]


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


def test_results_table_matches_role_free_rows_by_modality_set(synthetic_rows):
    table = results_table(synthetic_rows, LINES, ["cnn_concat", "pa_ib"], "scaffold",
                          expected=2)
    lines = table.splitlines()
    assert lines[0] == "| Spectrum config. | 1D-CNN (`cnn_concat`) | MSpecTmol (`pa_ib`) |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| IR | <u>0.810</u> (0.014) | **0.910** (0.014) |"
    # The baseline's single triple run fills both triple lines; PA-IB differs by primary.
    assert lines[3] == "| **IR** + (13C-NMR, 1H-NMR) | <u>0.920</u> (0.028) | **0.940** (0.028) |"
    assert lines[4] == "| **1H-NMR** + (IR, 13C-NMR) | **0.920** (0.028) | <u>0.720</u> (0.028) |"
    short = results_table(synthetic_rows[:5], LINES, ["cnn_concat", "pa_ib", "xgboost"],
                          "scaffold", expected=2)
    assert "**0.900** †" in short and short.splitlines()[2].endswith("| – |")
    macro = results_table(synthetic_rows, LINES[:1], ["pa_ib"], "scaffold", "macro_f1")
    assert "0.455 (0.007)" in macro
    assert "–" in results_table(synthetic_rows, LINES[:1], ["pa_ib"], "random")


def test_render_markdown_cost_table_and_files(tmp_path, synthetic_rows):
    rows = synthetic_rows
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


def test_condition_lines_read_the_rows_condition_metrics(tmp_path, make_row):
    lines = [TableLine("IR: clean", "ir", "ir", "clean"),
             TableLine("IR: noisy", "ir", "ir", "noisy")]
    rows = []
    for seed, (clean, noisy) in enumerate([(0.8, 0.6), (0.9, 0.5)]):
        conds = {"clean": {"micro_f1": clean}, "noisy": {"micro_f1": noisy}}
        rows += [make_row("pa_ib", "ir", "ir", "scaffold", seed, clean, conditions=conds),
                 make_row("logistic", "ir", "", "scaffold", seed, 0.7,
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

