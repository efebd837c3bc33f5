"""predict_inputs gives the same predictions with the packaged model on either engine (NumPy or
torch): probabilities, calls, gate maps and regions, regions behind each call and the
out-of-distribution score, for the shipped examples with all spectra or some missing."""

from pathlib import Path

import numpy as np
import pytest

from mspectmol.data.samples import SampleSpec
from mspectmol.models.inference import find_model
from mspectmol.models.inputs import load_sample
from mspectmol.models.io import load_model
from mspectmol.models.numpy_inference import load_numpy_pa_ib
from mspectmol.predict.pipeline import predict_inputs

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"
MOLECULES = ("aspirin", "chloroacetophenone", "paracetamol")


@pytest.fixture(scope="module")
def engines():
    path = find_model(None)
    model, meta = load_model(path)
    twin, _ = load_numpy_pa_ib(path)
    return model, twin, meta


def _sample(meta, mol, present):
    files = {"ir": EXAMPLES / f"{mol}_ir.jdx", "h_nmr": EXAMPLES / f"{mol}_h_nmr.jdx",
             "c_nmr": EXAMPLES / f"{mol}_c_nmr.csv"}
    return load_sample(meta, SampleSpec(mol, {m: files[m] for m in present}))


def _same_regions(got, want):
    assert got.keys() == want.keys()
    for m, regions in want.items():
        assert [r[:2] for r in got[m]] == [r[:2] for r in regions], m
        np.testing.assert_allclose([r[2] for r in got[m]], [r[2] for r in regions], atol=1e-4)


def check_same_predictions(got, want):
    assert got.sample == want.sample and got.attribution == want.attribution
    np.testing.assert_allclose(got.probabilities, want.probabilities, rtol=1e-4, atol=1e-7)
    assert got.calls == want.calls
    assert got.gate_maps.keys() == want.gate_maps.keys()
    for m, gate_map in want.gate_maps.items():
        np.testing.assert_allclose(got.gate_maps[m], gate_map, rtol=1e-4, atol=1e-7)
    _same_regions(got.gate_regions, want.gate_regions)
    assert got.call_regions.keys() == want.call_regions.keys()
    for group, regions in want.call_regions.items():
        _same_regions(got.call_regions[group], regions)
    assert got.ood["flagged"] == want.ood["flagged"]
    np.testing.assert_allclose(got.ood["score"], want.ood["score"], rtol=1e-4)


@pytest.mark.parametrize("present", [("ir", "h_nmr", "c_nmr"), ("ir", "h_nmr"), ("ir", "c_nmr"),
                                     ("ir",)])
@pytest.mark.parametrize("mol", MOLECULES)
def test_both_engines_predict_the_same(engines, mol, present):
    model, twin, meta = engines
    sample = _sample(meta, mol, present)
    assert sample.used == list(present)
    (want,) = predict_inputs(model, meta, [sample])
    (got,) = predict_inputs(twin, meta, [sample])
    assert want.calls  # regions behind calls are compared
    check_same_predictions(got, want)


def test_both_engines_predict_a_batch_the_same(engines):
    model, twin, meta = engines
    samples = [_sample(meta, mol, ("ir", "h_nmr", "c_nmr")) for mol in MOLECULES]
    samples.append(_sample(meta, "aspirin", ("ir", "c_nmr")))
    for got, want in zip(predict_inputs(twin, meta, samples, batch_size=2),
                         predict_inputs(model, meta, samples), strict=True):
        check_same_predictions(got, want)


def test_logit_offsets_shift_the_probabilities_on_either_engine(engines):
    import dataclasses

    model, twin, meta = engines
    sample = _sample(meta, "aspirin", ("ir", "h_nmr", "c_nmr"))
    offsets = [(-1.0) ** i * 0.1 * (i % 5) for i in range(len(meta.label_names))]
    shifted = dataclasses.replace(meta, logit_offsets=offsets)
    (plain,) = predict_inputs(model, dataclasses.replace(meta, logit_offsets=None), [sample])
    t = meta.temperature
    want = 1 / (1 + np.exp(-(np.log(plain.probabilities / (1 - plain.probabilities)) * t
                              + offsets) / t))
    for engine in (model, twin):
        (got,) = predict_inputs(engine, shifted, [sample])
        np.testing.assert_allclose(got.probabilities, want, rtol=1e-5, atol=1e-7)
