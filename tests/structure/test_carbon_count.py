import numpy as np
import pytest

from mspectmol.errors import MspectmolError
from mspectmol.structure.evidence.carbon_count import (
    carbon_regions,
    carbon_regions_many,
    observed_carbon_regions,
    pick_peaks,
    region_mismatch,
)


@pytest.mark.parametrize(("smiles", "expected"), [
    ("CC(C)=O", [1, 0, 1]),        # acetone: the two methyls are one line
    ("c1ccccc1", [0, 1, 0]),       # benzene: one aromatic line
    ("Cc1ccccc1", [1, 4, 0]),      # toluene: ipso, ortho, meta, para
    ("CC#N", [1, 1, 0]),           # acetonitrile: the nitrile carbon is in 95-155 ppm
    ("C#CC", [3, 0, 0]),           # propyne: alkyne carbons below 95 ppm
    ("CC(=O)OC", [2, 0, 1]),       # methyl acetate
    ("OC(=O)C(=O)O", [0, 0, 1]),   # oxalic acid: one line
    ("NC=O", [0, 0, 1]),
    ("CN", [1, 0, 0]),
])
def test_carbon_regions_by_hand(smiles, expected):
    assert carbon_regions(smiles).tolist() == expected


def test_carbon_regions_rejects_invalid_smiles():
    with pytest.raises(MspectmolError, match="invalid SMILES 'C1CC'"):
        carbon_regions("C1CC")
    assert carbon_regions_many([]).shape == (0, 3)
    assert carbon_regions_many(["C", "CC"]).tolist() == [[1, 0, 0], [1, 0, 0]]


def _spectrum(ppm, lines, width=0.6):
    return sum(h * np.exp(-0.5 * ((ppm - c) / width) ** 2) for c, h in lines)


def test_peaks_and_observed_regions():
    ppm = np.linspace(-20, 230, 600)
    y = _spectrum(ppm, [(20.0, 1.0), (30.0, 0.5), (128.0, 2.0), (170.0, 0.3), (60.0, 0.01)])
    lines = pick_peaks(y, ppm)
    assert lines.size == 4  # the 0.5%-high line is below the 2% threshold
    assert np.allclose(lines, [20, 30, 128, 170], atol=0.5)
    assert observed_carbon_regions(y, ppm).tolist() == [2, 1, 1]
    assert observed_carbon_regions(y, ppm, relative_height=0.001).tolist() == [3, 1, 1]
    flat = np.zeros(600)
    flat[100:103] = 1.0  # a flat top counts once
    assert pick_peaks(flat, ppm).size == 1
    assert pick_peaks(np.zeros(600), ppm).size == 0


def test_peaks_reject_bad_input():
    ppm = np.linspace(0, 1, 10)
    with pytest.raises(MspectmolError, match="does not match its axis"):
        pick_peaks(np.ones(9), ppm)
    with pytest.raises(MspectmolError, match="NaN"):
        pick_peaks(np.full(10, np.nan), ppm)


def test_region_mismatch():
    cands = np.array([[1, 0, 1], [2, 1, 0]])
    assert region_mismatch(cands, np.array([1, 0, 1])).tolist() == [0.0, 3.0]
    with pytest.raises(MspectmolError, match="shape"):
        region_mismatch(cands, np.array([1, 0]))
