"""Tests of mspectmol.evaluation.report.classification_report and its Markdown table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mspectmol.chem import GROUP_NAMES
from mspectmol.evaluation import metrics as m
from mspectmol.evaluation.report import classification_report, label_names

# the golden case of test_metrics.py, as probabilities
Y_TRUE = np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
Y_PROB = np.array([[0.9, 0.1, 0.3, 0.0], [0.2, 0.8, 0.7, 0.1], [0.6, 0.4, 0.55, 0.2],
                   [0.1, 0.0, 0.2, 0.3]])
NAMES = ["Alcohol", "Amine", "Ester|Ether", "Nitrile"]


def test_report_golden_values() -> None:
    report = classification_report(Y_TRUE, Y_PROB, NAMES)
    assert report.n_samples == 4
    assert report.names == tuple(NAMES)
    np.testing.assert_array_equal(report.thresholds, [0.5] * 4)
    assert report.micro_f1 == pytest.approx(8 / 11)
    assert report.micro_precision == pytest.approx(4 / 5)
    assert report.micro_recall == pytest.approx(4 / 6)
    assert report.macro_f1 == pytest.approx(13 / 24)
    assert report.macro_f1_present == pytest.approx(13 / 18)
    assert report.subset_accuracy == pytest.approx(0.5)
    assert report.hamming_loss == pytest.approx(3 / 16)
    assert report.fgsim_mean == pytest.approx(17 / 24)
    np.testing.assert_allclose(report.f1, [1.0, 2 / 3, 0.5, 0.0])
    np.testing.assert_array_equal(report.support, [2, 2, 2, 0])
    np.testing.assert_array_equal(report.n_predicted, [2, 1, 2, 0])


def test_report_per_label_thresholds_agree_with_metrics() -> None:
    rng = np.random.default_rng(11)
    truth = (rng.random((30, 6)) < 0.3).astype(int)
    prob = rng.random((30, 6))
    thresholds = np.array([0.2, 0.4, 0.5, 0.6, 0.8, 0.95])
    report = classification_report(truth, prob, threshold=thresholds)
    assert report.names == tuple(f"label_{i}" for i in range(6))
    np.testing.assert_array_equal(report.thresholds, thresholds)
    assert report.micro_f1 == pytest.approx(m.micro_f1(truth, prob, thresholds))
    assert report.macro_f1 == pytest.approx(m.macro_f1(truth, prob, thresholds))
    assert report.hamming_loss == pytest.approx(m.hamming_loss(truth, prob, thresholds))
    np.testing.assert_allclose(
        report.recall, m.precision_recall_f1_support(truth, prob, thresholds).recall)


def test_to_markdown_table() -> None:
    text = classification_report(Y_TRUE, Y_PROB, NAMES).to_markdown(digits=3)
    lines = text.splitlines()
    assert lines[0] == "Samples: 4"
    assert "| Micro-F1 | 0.727 |" in lines
    assert "| Macro-F1 (all labels) | 0.542 |" in lines
    assert "| Macro-F1 (labels present) | 0.722 |" in lines
    assert "| Mean FGSim | 0.708 |" in lines
    assert "| Amine | 0.5 | 1.000 | 0.500 | 0.667 | 2 | 1 |" in lines
    assert "| Ester\\|Ether | 0.5 | 0.500 | 0.500 | 0.500 | 2 | 2 |" in lines  # '|' escaped
    table = [ln for ln in lines if ln.startswith("| ") and ln.count("|") >= 8]
    assert len(table) == 1 + len(NAMES)  # header + one row per label
    with pytest.raises(m.MetricError, match="digits"):
        classification_report(Y_TRUE, Y_PROB).to_markdown(digits=-1)


def test_to_dict_is_json_ready() -> None:
    report = classification_report(Y_TRUE, Y_PROB, NAMES)
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["n_samples"] == 4
    assert doc["micro_f1"] == pytest.approx(8 / 11)
    assert [row["name"] for row in doc["per_label"]] == NAMES
    assert doc["per_label"][3] == {"name": "Nitrile", "threshold": 0.5, "precision": 0.0,
                                   "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}


def test_group_names_fit_37_labels() -> None:
    truth = np.zeros((2, len(GROUP_NAMES)), dtype=int)
    truth[0, 3] = 1
    report = classification_report(truth, truth.astype(float), GROUP_NAMES)
    assert report.names == tuple(GROUP_NAMES)
    assert report.micro_f1 == 1.0
    assert report.fgsim_mean == 1.0


@pytest.mark.parametrize(
    ("names", "message"),
    [(["a", "b"], "2 names for 4 labels"), ("abcd", "single string"),
     (["a", "b", "", "d"], "non-empty"), (["a", "b", 3, "d"], "non-empty")],
)
def test_bad_names_raise(names: object, message: str) -> None:
    with pytest.raises(m.MetricError, match=message):
        classification_report(Y_TRUE, Y_PROB, names)  # type: ignore[arg-type]


def test_label_names_default() -> None:
    assert label_names(None, 2) == ("label_0", "label_1")


def test_report_rejects_bad_arrays() -> None:
    with pytest.raises(m.MetricError, match="differ in shape"):
        classification_report(Y_TRUE, Y_PROB[:3])
    with pytest.raises(m.MetricError, match=r"y_prob: .*\[0, 1\]"):
        classification_report(Y_TRUE, Y_PROB * 4)
    with pytest.raises(m.MetricError, match="thresholds for"):
        classification_report(Y_TRUE, Y_PROB, threshold=[0.5, 0.5])
