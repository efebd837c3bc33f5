"""Test-time conditions of the robustness suites: noise, masking, parsing, evaluation."""

import numpy as np
import pytest

from mspectmol.data.batches import make_split
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.suites.conditions import Condition, parse_conditions
from mspectmol.suites.robustness import (
    add_noise,
    apply_condition,
    condition_rng,
    evaluate_conditions,
    mask_modalities,
    report_metrics,
)

N, P = 400, 256


@pytest.fixture
def data():
    """Spectra with very different row maxima; the last 50 IR rows missing (NaN)."""
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.1, 10.0, size=(N, 1))
    ir = (rng.random((N, P)) * scale).astype(np.float32)
    ir[-50:] = np.nan
    c_nmr = (rng.random((N, P)) * scale[::-1]).astype(np.float32)
    labels = (rng.random((N, 5)) < 0.3).astype(np.float32)
    return make_split([f"m{i}" for i in range(N)], labels, {"ir": ir, "c_nmr": c_nmr})


def copies(data):
    return ({m: x.copy() for m, x in data.spectra.items()},
            {m: a.copy() for m, a in data.available.items()})


def test_noise_sigma_is_the_fraction_of_each_rows_maximum(data):
    spectra, available = copies(data)
    noisy = add_noise(data, 0.05, np.random.default_rng(1))
    for m in data.modalities:
        ok = data.available[m]
        diff = (noisy.spectra[m] - data.spectra[m])[ok].astype(np.float64)
        peak = np.abs(data.spectra[m][ok]).max(axis=1, keepdims=True)
        ratio = diff.std(axis=1) / (0.05 * peak[:, 0])
        assert abs(ratio.mean() - 1.0) < 0.02 and np.all(np.abs(ratio - 1) < 0.3)
        assert abs((diff / peak).mean()) < 0.002  # zero-mean noise
        assert noisy.spectra[m].dtype == np.float32
    # Rows without the spectrum stay zero and unavailable.
    assert not noisy.available["ir"][-50:].any() and np.all(noisy.spectra["ir"][-50:] == 0)
    # Nothing was modified in place.
    for m in data.modalities:
        np.testing.assert_array_equal(data.spectra[m], spectra[m])
        np.testing.assert_array_equal(data.available[m], available[m])
    assert noisy.spectra["ir"] is not data.spectra["ir"]


def test_masking_zeroes_and_marks_unavailable_without_touching_the_input(data):
    spectra, available = copies(data)
    masked = mask_modalities(data, ["c_nmr"])
    assert np.all(masked.spectra["c_nmr"] == 0) and not masked.available["c_nmr"].any()
    np.testing.assert_array_equal(masked.spectra["ir"], data.spectra["ir"])
    np.testing.assert_array_equal(masked.available["ir"], data.available["ir"])
    np.testing.assert_array_equal(masked.labels, data.labels)
    assert masked.modalities == data.modalities
    for m in data.modalities:
        np.testing.assert_array_equal(data.spectra[m], spectra[m])
        np.testing.assert_array_equal(data.available[m], available[m])
    masked.spectra["ir"][0, 0] = -1.0
    assert data.spectra["ir"][0, 0] != -1.0  # a copy, not a view
    with pytest.raises(MspectmolError, match="cannot mask h_nmr"):
        mask_modalities(data, ["h_nmr"])


def test_conditions_are_deterministic_by_seed_and_name(data):
    c = Condition("sigma_0.05", noise=0.05)
    a, b = apply_condition(data, c, seed=3), apply_condition(data, c, seed=3)
    np.testing.assert_array_equal(a.spectra["ir"], b.spectra["ir"])
    other_seed = apply_condition(data, c, seed=4)
    other_name = apply_condition(data, Condition("other", noise=0.05), seed=3)
    assert not np.array_equal(a.spectra["ir"], other_seed.spectra["ir"])
    assert not np.array_equal(a.spectra["ir"], other_name.spectra["ir"])
    assert condition_rng(1, "x").random() == condition_rng(1, "x").random()
    clean = apply_condition(data, Condition("clean"), seed=3)
    np.testing.assert_array_equal(clean.spectra["ir"], data.spectra["ir"])
    both = apply_condition(data, Condition("b", noise=0.1, mask=("ir",)), seed=0)
    assert np.all(both.spectra["ir"] == 0) and not both.available["ir"].any()
    assert not np.array_equal(both.spectra["c_nmr"], data.spectra["c_nmr"])


def test_condition_specs_are_parsed_and_checked():
    found = parse_conditions({"clean": {}, "s": {"noise": 0.1}, "no_c": {"mask": "13C"},
                              "both": {"noise": 0.02, "mask": ["h_nmr", "ir"]}})
    assert [c.name for c in found] == ["clean", "s", "no_c", "both"]
    assert found[0].is_clean and found[0].title() == "unperturbed"
    assert found[1].title() == "σ = 0.10 × max" and found[1].to_dict() == {"noise": 0.1}
    assert found[2].mask == ("c_nmr",) and found[2].title() == "without 13C-NMR"
    assert found[3].title() == "σ = 0.02 × max; without 1H-NMR, IR"
    assert found[2].applies_to(("ir", "c_nmr")) and not found[3].applies_to(("ir", "c_nmr"))
    assert parse_conditions(None) == ()
    for bad, text in (({"x": {"noise": -1}}, "noise must be"), ({"x": {"sigma": 1}}, "keys"),
                      ({"x": {"mask": ["nope"]}}, "bad mask"), ({"x": 3}, "expected"),
                      ({"x": {"mask": ["ir", "ir"]}}, "twice")):
        with pytest.raises(ConfigError, match=text):
            parse_conditions(bad, "s.json")


class MeanModel:
    """A classical stand-in whose prediction follows the mean IR intensity."""

    def predict_proba(self, inputs):
        mean = inputs["ir"].mean(axis=1, keepdims=True)
        return np.clip(np.repeat(mean / (1 + mean), 5, axis=1), 0.01, 0.99)


def test_evaluate_conditions_gives_flat_metrics_per_applicable_condition(data):
    conditions = parse_conditions({"clean": {}, "noisy": {"noise": 0.1},
                                   "no_ir": {"mask": ["ir"]}, "no_h": {"mask": ["h_nmr"]}})
    out = evaluate_conditions(MeanModel(), data, conditions, seed=0, thresholds=[0.5] * 5,
                              temperature=None, names=list("abcde"))
    assert set(out) == {"clean", "noisy", "no_ir"}  # no h_nmr in the data
    assert set(out["clean"]) == {"micro_f1", "macro_f1", "exact_match", "fgsim",
                                 "micro_f1_tuned", "macro_f1_tuned", "exact_match_tuned",
                                 "fgsim_tuned"}
    assert all(v is None or 0.0 <= v <= 1.0 for r in out.values() for v in r.values())
    assert out["no_ir"] != out["clean"]
    stored = {"at_0.5": {"micro_f1": 0.25, "macro_f1": float("nan"), "subset_accuracy": 0.0,
                         "fgsim_mean": 0.5}}
    reused = evaluate_conditions(MeanModel(), data, conditions[:1], seed=0, thresholds=None,
                                 temperature=None, names=list("abcde"), clean=stored)
    assert reused == {"clean": report_metrics(stored)}
    assert reused["clean"]["macro_f1"] is None and reused["clean"]["micro_f1"] == 0.25
