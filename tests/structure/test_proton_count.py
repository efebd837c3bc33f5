import json
from importlib import resources

import numpy as np
import pytest

from mspectmol.errors import MspectmolError
from mspectmol.structure.evidence.proton_count import (
    PROTON_TYPES,
    REGION_EDGES_PPM,
    fit_from_dataset,
    fit_profiles,
    load_profiles,
    predicted_fractions,
    proton_mismatch,
    proton_types,
    proton_types_many,
    region_integrals,
)
from mspectmol.structure.ranking.prefilter import prefilter


def _types(smiles):
    counts = proton_types(smiles)
    return {t: int(c) for t, c in zip(PROTON_TYPES, counts, strict=True) if c}


@pytest.mark.parametrize(("smiles", "expected"), [
    ("CCO", {"ch_alkyl": 3, "ch_alpha_o": 2, "oh_alcohol": 1}),
    ("CC=O", {"ch_alpha_pi": 3, "ch_aldehyde": 1}),
    ("O=COC", {"ch_formyl": 1, "ch_alpha_o": 3}),
    ("CC(=O)O", {"ch_alpha_pi": 3, "oh_acid": 1}),
    ("c1ccccc1O", {"ch_aromatic": 5, "oh_enol": 1}),
    ("c1cc[nH]c1", {"ch_aromatic": 4, "nh_aromatic": 1}),
    ("CCN", {"ch_alkyl": 3, "ch_alpha_n": 2, "nh_amine": 2}),
    ("CC(N)=O", {"ch_alpha_pi": 3, "nh_amide": 2}),
    ("C#CC", {"ch_alkyne": 1, "ch_alpha_pi": 3}),
    ("C1COC1", {"ch_oxetane": 4, "ch_alkyl": 2}),
    ("C1CO1", {"ch_epoxide": 4}),
    ("COCOC", {"ch_alpha_o": 6, "ch_alpha_o2": 2}),
    ("C=CO", {"ch_alkene": 2, "ch_alkene_x": 1, "oh_enol": 1}),
    ("C=N", {"ch_alkene_x": 2, "nh_imine": 1}),
    ("CF", {"ch_alpha_o": 3}),  # F-bound carbons share the O-bound carbons' type
])
def test_proton_types_by_hand(smiles, expected):
    assert _types(smiles) == expected


def test_proton_types_rejects_invalid_smiles():
    with pytest.raises(MspectmolError, match="invalid SMILES 'C1CC'"):
        proton_types("C1CC")
    assert proton_types_many([]).shape == (0, len(PROTON_TYPES))
    assert proton_types_many(["C", "O=C=O"]).sum(axis=1).tolist() == [4, 0]


def _lorentz(ppm, lines, width=0.02):
    return sum(n * width / np.pi / ((ppm - c) ** 2 + width ** 2) for c, n in lines)


def test_region_integrals_count_protons_per_region():
    ppm = np.linspace(-2, 10, 6001)
    # ethyl acetate-like: 3 H at 1.2, 3 H at 2.0, 2 H at 4.1; plus 1 H at 9.7
    y = _lorentz(ppm, [(1.2, 3), (2.0, 3), (4.1, 2), (9.7, 1)])
    frac = region_integrals(y, ppm)
    assert frac.shape == (4,) and np.isclose(frac.sum(), 1.0)
    assert np.allclose(frac * 9, [6, 2, 0, 1], atol=0.05)
    batch = region_integrals(np.stack([y, 2 * y]), ppm)
    assert batch.shape == (2, 4) and np.allclose(batch[0], batch[1])
    assert len(REGION_EDGES_PPM) == 3


@pytest.mark.parametrize(("y", "message"), [
    (np.ones(9), "does not match its axis"),
    (np.full(10, np.nan), "NaN"),
    (np.zeros(10), "no positive intensity"),
])
def test_region_integrals_reject_bad_input(y, message):
    with pytest.raises(MspectmolError, match=message):
        region_integrals(y, np.linspace(0, 9, 10))


def test_fit_profiles_recovers_known_profiles():
    rng = np.random.default_rng(0)
    truth = np.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.2, 0.8, 0.0], [0.0, 0.0, 0.3, 0.7]])
    counts = rng.integers(0, 6, size=(200, 3)).astype(float)
    counts[counts.sum(axis=1) == 0, 0] = 1
    fractions = predicted_fractions(counts, truth)
    assert np.allclose(fit_profiles(counts, fractions), truth, atol=1e-8)
    with pytest.raises(MspectmolError, match="pair up"):
        fit_profiles(counts, fractions[:-1])


def test_proton_mismatch_by_hand():
    profiles = np.eye(4)  # each type in one region
    counts = np.array([[2, 2, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0]])
    observed = np.array([0.5, 0.5, 0.0, 0.0])
    # candidate 2: all 4 protons in region 1 against half there: |1 - .5| + |0 - .5| = 1 -> 4 H
    assert proton_mismatch(counts, observed, profiles).tolist() == [0.0, 4.0, 0.0]
    with pytest.raises(MspectmolError, match="shape"):
        proton_mismatch(counts, np.array([1.0, 0.0]), profiles)


def test_packaged_profiles_make_chemical_sense():
    p = load_profiles()
    assert p.shape == (len(PROTON_TYPES), 4) and np.all(p >= 0)
    row = {t: p[i] for i, t in enumerate(PROTON_TYPES)}
    assert np.argmax(row["ch_alkyl"]) == 0       # alkyl CH below 2.8 ppm
    assert np.argmax(row["ch_alpha_o"]) == 1     # CH-O 2.8-5.5 ppm
    assert np.argmax(row["ch_aromatic"]) == 2    # aromatic CH 5.5-8.9 ppm
    assert np.argmax(row["ch_aldehyde"]) == 3    # CHO from 8.9 ppm
    fitted = p[p.sum(axis=1) > 0].sum(axis=1)
    assert np.all((fitted > 0.8) & (fitted < 1.4))  # about one proton's worth each


def test_packaged_profiles_are_the_embedded_datasets_fit():
    packaged = json.loads(resources.files("mspectmol.structure")
                          .joinpath("proton_profiles.json").read_text())
    refit = fit_from_dataset()
    assert refit["data"] == packaged["data"]
    assert np.allclose(refit["profiles"], packaged["profiles"], atol=2e-6)


def test_prefilter_1h_integrals_reorder_functional_group_ties():
    # equal labels -> equal fg; acetone, propanal and allyl alcohol differ in where their
    # protons are, so the observed shares of propanal put propanal first
    names = ["CC(C)=O", "CCC=O", "C=CCO"]
    labels, p = np.zeros((3, 37)), np.full(37, 0.01)
    observed = predicted_fractions(proton_types("CCC=O"), load_profiles())[0]
    kept = prefilter(names, p, 3, labels=labels, h1_regions=observed)
    assert kept.smiles[0] == "CCC=O" and kept.h1_mismatch[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(kept.h1_mismatch[1:] > 0.5)
    assert prefilter(names, p, 3, labels=labels, h1_regions=observed,
                     h1_weight=0.0).smiles == names
    assert not prefilter(names, p, 3, labels=labels).h1_mismatch.any()
    with pytest.raises(MspectmolError, match="1H pre-filter weight"):
        prefilter(names, p, 3, labels=labels, h1_weight=float("nan"))
