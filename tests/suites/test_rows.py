"""Result rows: stored and loaded, expected run times and balanced shards."""

import json

import numpy as np
import pytest

from mspectmol.errors import MspectmolError
from mspectmol.suites.rows import (
    balanced_shard,
    current_rows,
    estimate_each,
    estimate_seconds,
    load_rows,
    write_row,
)


def test_rows_round_trip_and_bad_row_files(tmp_path, make_row):
    row = make_row("pa_ib", "ir", "ir", "random", 0, 0.5)
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


def test_estimate_seconds_from_finished_rows(synthetic_rows):
    rows = synthetic_rows  # pa_ib: 10 s on one modality, 30 s on three
    total, unknown = estimate_seconds([("pa_ib", 1), ("pa_ib", 3), ("pa_ib", 2),
                                       ("xgboost", 1)], rows)
    assert unknown == 1
    assert total == pytest.approx(10 + 30 + np.mean([10 * 2, 10 * 2, 20, 20, 20, 20]))


def test_estimate_each_gives_none_for_unknown_models(synthetic_rows):
    each = estimate_each([("pa_ib", 3), ("xgboost", 1)], synthetic_rows)
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

