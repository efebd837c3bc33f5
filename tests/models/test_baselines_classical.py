"""Classical baselines: XGBoost, logistic regression and label prevalence."""

import json

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from mspectmol.errors import ModelFileError, MspectmolError, SpectrumError
from mspectmol.evaluation.metrics import micro_f1
from mspectmol.models.baselines_classical import (
    LogisticBaseline,
    LogisticConfig,
    PrevalenceBaseline,
    PrevalenceConfig,
    check_labels,
    stack_features,
)
from mspectmol.models.baselines_xgboost import XGBoostBaseline, XGBoostConfig
from mspectmol.models.registry import get_model_spec

MODS = ("ir", "c_nmr")
N_POINTS = 16
N_LABELS = 4  # label 3 never occurs: a single class in training


def _problem(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Labels 0-1 show as peaks in the IR spectrum, label 2 in the 13C spectrum."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, N_LABELS)) < 0.4).astype(np.uint8)
    y[:, 3] = 0
    ir = rng.normal(0.0, 0.2, (n, N_POINTS)).astype(np.float32)
    cn = rng.normal(0.0, 0.2, (n, N_POINTS)).astype(np.float32)
    ir[:, 2] += 1.5 * y[:, 0]
    ir[:, 9] += 1.5 * y[:, 1]
    cn[:, 5] += 1.5 * y[:, 2]
    return {"ir": ir, "c_nmr": cn}, y


TRAIN = _problem(240, 0)
TEST = _problem(120, 1)
SMALL = {"modalities": MODS, "n_points": N_POINTS, "n_labels": N_LABELS}


def _xgb(**extra) -> XGBoostBaseline:
    return XGBoostBaseline(XGBoostConfig(**{**SMALL, "n_estimators": 25, "max_depth": 3, **extra}))


def _logistic() -> LogisticBaseline:
    return LogisticBaseline(LogisticConfig(**SMALL, max_iter=60, n_jobs=1))


def _round_trip(model):
    meta, arrays = model.to_state()
    meta = json.loads(json.dumps(meta))  # JSON-able
    arrays = st_load(st_save(arrays))  # safetensors-able (numeric arrays, no objects)
    return type(model).from_state(meta, arrays)


@pytest.mark.parametrize("make", [_xgb, _logistic], ids=["xgboost", "logistic"])
def test_fits_a_separable_problem_and_round_trips(make):
    model = make().fit(*TRAIN)
    prob = model.predict_proba(TEST[0])
    assert prob.shape == (120, N_LABELS) and prob.dtype == np.float64
    assert ((prob >= 0) & (prob <= 1)).all()
    assert micro_f1(TEST[1], prob) > 0.95
    assert (prob[:, 3] == 0.0).all()  # never seen: constant prevalence 0
    again = _round_trip(model)
    np.testing.assert_array_equal(again.predict_proba(TEST[0]), prob)


def test_constant_positive_label_predicts_one():
    X, y = TRAIN
    y = y.copy()
    y[:, 3] = 1
    for model in (_xgb().fit(X, y), _logistic().fit(X, y)):
        assert (model.predict_proba(TEST[0])[:, 3] == 1.0).all()


def test_prevalence_equals_training_means():
    X, y = TRAIN
    model = PrevalenceBaseline(PrevalenceConfig(**SMALL)).fit(X, y)
    prob = model.predict_proba(TEST[0])
    assert prob.shape == (120, N_LABELS)
    np.testing.assert_allclose(prob, np.broadcast_to(y.mean(axis=0), prob.shape))
    np.testing.assert_array_equal(_round_trip(model).predict_proba(TEST[0]), prob)


def test_xgboost_early_stopping_on_validation():
    model = _xgb(learning_rate=0.5, early_stopping_rounds=3).fit(*TRAIN, *TEST)
    assert model.best_iteration is not None and 0 <= model.best_iteration < 25
    prob = model.predict_proba(TEST[0])
    assert micro_f1(TEST[1], prob) > 0.95
    again = _round_trip(model)
    assert again.best_iteration == model.best_iteration
    np.testing.assert_array_equal(again.predict_proba(TEST[0]), prob)
    with pytest.raises(MspectmolError, match="both X_val and y_val"):
        _xgb().fit(*TRAIN, TEST[0], None)


def test_booster_is_stored_as_json_bytes():
    _, arrays = _xgb(n_estimators=3).fit(*TRAIN).to_state()
    raw = arrays["booster"]
    assert raw.dtype == np.uint8 and raw.ndim == 1
    assert json.loads(raw.tobytes())["learner"]["objective"]["name"] == "binary:logistic"


def test_logistic_l2_shrinks_weights():
    X, y = TRAIN
    loose = _logistic().fit(X, y)
    tight = LogisticBaseline(LogisticConfig(**SMALL, l2=1.0, max_iter=60)).fit(X, y)
    assert np.abs(tight.params["weight"]).sum() < 0.5 * np.abs(loose.params["weight"]).sum()


def test_input_errors():
    X, y = TRAIN
    model = _logistic()
    with pytest.raises(SpectrumError, match="no 'c_nmr' spectra"):
        model.fit({"ir": X["ir"]}, y)
    bad = dict(X, ir=X["ir"].copy())
    bad["ir"][3, 4] = np.nan
    with pytest.raises(SpectrumError, match=r"X\['ir'\] contains NaN"):
        model.fit(bad, y)
    with pytest.raises(SpectrumError, match=r"must have shape \(n, 16\)"):
        model.fit(dict(X, ir=X["ir"][:, :10]), y)
    with pytest.raises(SpectrumError, match="different numbers of rows"):
        model.fit(dict(X, ir=X["ir"][:10]), y)
    with pytest.raises(MspectmolError, match="only 0 and 1"):
        model.fit(X, y * 2)
    with pytest.raises(MspectmolError, match=r"shape \(240, 4\)"):
        model.fit(X, y[:, :3])
    with pytest.raises(MspectmolError, match="not fitted"):
        model.predict_proba(X)


def test_stack_features_order_and_aliases():
    X = {"13C": np.ones((2, 3)), "IR": np.zeros((2, 3))}
    out = stack_features(X, PrevalenceConfig(modalities=("ir", "c_nmr"), n_points=3))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0, 0, 1, 1, 1]] * 2)
    assert check_labels([[1, 0]], 1, 2).dtype == np.uint8


def test_from_state_errors():
    model = _xgb(n_estimators=3).fit(*TRAIN)
    meta, arrays = model.to_state()
    with pytest.raises(ModelFileError, match="not a 'logistic' model"):
        LogisticBaseline.from_state(meta, arrays)
    with pytest.raises(ModelFileError, match="no array 'booster'"):
        XGBoostBaseline.from_state(meta, {"prevalence": arrays["prevalence"]})
    with pytest.raises(ModelFileError, match="cannot be read"):
        XGBoostBaseline.from_state(meta, dict(arrays, booster=arrays["booster"][:100]))
    with pytest.raises(ModelFileError, match="invalid config"):
        XGBoostBaseline.from_state({**meta, "config": {"n_labels": -1}}, arrays)
    lmeta, larrays = _logistic().fit(*TRAIN).to_state()
    with pytest.raises(ModelFileError, match=r"'weight' has shape \(32, 3\)"):
        LogisticBaseline.from_state(lmeta, dict(larrays, weight=larrays["weight"][:, :3]))


@pytest.mark.parametrize("name", ["xgboost", "logistic", "prevalence"])
def test_registered(name):
    spec = get_model_spec(name)
    assert spec.kind == "classical"
    overrides = {"n_estimators": 3} if name == "xgboost" else {}
    cfg = spec.make_config(overrides, primary="ir", auxiliary=("c_nmr",), n_points=N_POINTS,
                           n_labels=N_LABELS)
    model = spec.build(cfg).fit(*TRAIN)
    meta, arrays = model.to_state()
    again = spec.load_state(meta, arrays)
    np.testing.assert_array_equal(again.predict_proba(TEST[0]), model.predict_proba(TEST[0]))
