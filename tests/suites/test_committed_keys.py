"""The committed suite results keep their run keys: planning a packaged suite with its own
settings finds every committed row as finished (a settings field added to ``TrainConfig``
without a late default would silently orphan them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mspectmol.suites.definitions import load_suite
from mspectmol.suites.plan import dataset_info, make_settings, plan_jobs

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
SUITES = ("noise", "missing", "fusion", "symmetric", "stress", "augment", "modalities",
          "ablation", "transfer")


@pytest.mark.parametrize("name", SUITES)
def test_committed_rows_are_planned_runs(name, tmp_path):
    rows = json.loads((RESULTS / name / "results.json").read_text(encoding="utf-8"))
    suite = load_suite(name)
    settings = make_settings(suite)
    fingerprint = dataset_info()["fingerprint"]
    planned = {job.key for job in plan_jobs(suite, settings, tmp_path, fingerprint)}
    committed = {row["key"] for row in rows}
    assert committed and committed <= planned, sorted(committed - planned)[:3]
