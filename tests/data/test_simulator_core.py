"""Fast tests of the simulator's pure parts: settings, records, errors, normal modes, NMR lists."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from rdkit import Chem

from mspectmol.data.simulator import nmr, vibrations
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.errors import MspectmolError


# --- settings ---------------------------------------------------------------------------------
def test_settings_hash_is_stable_and_sensitive() -> None:
    a = SimulationSettings()
    assert a.stable_hash() == SimulationSettings().stable_hash()
    assert len(a.stable_hash()) == 16
    assert SimulationSettings(hessian_step=0.004).stable_hash() != a.stable_hash()
    assert SimulationSettings(seed=1).stable_hash() != a.stable_hash()
    # an int where a float is expected hashes like the float
    assert SimulationSettings(accuracy=1).stable_hash() == a.stable_hash()
    assert SimulationSettings.from_dict(a.to_dict()) == a


def test_settings_hash_does_not_depend_on_python_hash_seed() -> None:
    code = (
        "from mspectmol.data.simulator.settings import SimulationSettings;"
        "print(SimulationSettings(n_conformers=7).stable_hash())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        outputs.add(out.stdout.strip())
    assert outputs == {SimulationSettings(n_conformers=7).stable_hash()}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fmax": 0.0},
        {"n_conformers": 0},
        {"hessian_step": -1.0},
        {"field_strength": float("nan")},
        {"imaginary_threshold": 5.0},
        {"n_rerank": 1.5},
        {"seed": "x"},
        {"max_imaginary_rounds": True},
        {"optimizer": "newton"},
        {"optimizer": 1},
        {"chirality_check": "none"},
        {"chirality_check": None},
    ],
)
def test_invalid_settings_raise(kwargs: dict) -> None:
    with pytest.raises(MspectmolError):
        SimulationSettings(**kwargs)


def test_settings_name_their_choices_and_hash_them() -> None:
    defaults = SimulationSettings()
    assert (defaults.optimizer, defaults.chirality_check) == ("precon_lbfgs", "perceived")
    legacy = SimulationSettings(optimizer="bfgs", chirality_check="etkdg")
    assert legacy.stable_hash() != defaults.stable_hash()
    assert SimulationSettings.from_dict(legacy.to_dict()) == legacy
    with pytest.raises(MspectmolError, match=r"optimizer must be one of \['precon_lbfgs'"):
        SimulationSettings(optimizer="lbfgs")


def test_settings_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(MspectmolError, match="bogus"):
        SimulationSettings.from_dict({"bogus": 1})


# --- errors -----------------------------------------------------------------------------------
def test_simulation_error_carries_stage_and_pickles() -> None:
    err = SimulationError("optimise", "did not converge", "CCO")
    assert isinstance(err, MspectmolError)
    assert "optimise" in str(err) and "CCO" in str(err) and "did not converge" in str(err)
    back = pickle.loads(pickle.dumps(err))
    assert (back.stage, back.reason, back.smiles) == ("optimise", "did not converge", "CCO")


# --- normal modes on analytic Hessians ----------------------------------------------------------
def _diatomic_hessian(positions: np.ndarray, k: float) -> np.ndarray:
    """Cartesian Hessian of a harmonic bond of force constant k (Hartree/Bohr^2)."""
    u = positions[1] - positions[0]
    u = u / np.linalg.norm(u)
    block = k * np.outer(u, u)
    return np.block([[block, -block], [-block, block]])


def test_diatomic_frequency_matches_sqrt_k_over_mu() -> None:
    masses = np.array([1.008, 35.45])
    positions = np.array([[0.1, -0.2, 0.3], [1.0, 1.5, 2.0]])
    k = 0.33
    modes = vibrations.normal_modes(_diatomic_hessian(positions, k), positions, masses)
    mu = masses.prod() / masses.sum()
    assert modes.frequencies.shape == (1,)  # 3N - 5 for a linear molecule
    expected = np.sqrt(k / mu) * vibrations.EIGENVALUE_TO_WAVENUMBER
    assert modes.frequencies[0] == pytest.approx(expected, rel=1e-9)


def test_internal_basis_removes_translations_and_rotations() -> None:
    rng = np.random.default_rng(0)
    positions = rng.normal(size=(5, 3))
    masses = rng.uniform(1, 20, size=5)
    basis = vibrations.internal_basis(positions, masses)
    assert basis.shape == (15, 9)
    np.testing.assert_allclose(basis.T @ basis, np.eye(9), atol=1e-10)
    # a mass-weighted rigid translation and a rigid rotation have no internal component
    sqrt_m = np.sqrt(masses)[:, None]
    translation = (np.tile([0.3, -1.0, 2.0], (5, 1)) * sqrt_m).reshape(-1)
    centred = positions - (masses[:, None] * positions).sum(0) / masses.sum()
    rotation = (np.cross([0.2, 0.5, -0.1], centred) * sqrt_m).reshape(-1)
    assert np.abs(basis.T @ translation).max() < 1e-10
    assert np.abs(basis.T @ rotation).max() < 1e-10


def test_ir_intensity_unit_and_raman_invariants() -> None:
    # published conversion factors: 5140.48 cm-1 per sqrt(Eh/(a0^2 amu)); 974.88 km/mol per e^2/amu
    assert vibrations.EIGENVALUE_TO_WAVENUMBER == pytest.approx(5140.487, abs=0.01)
    assert vibrations.IR_KM_PER_MOL == pytest.approx(974.88, abs=0.01)
    masses = np.array([12.0, 16.0])
    positions = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.1]])
    modes = vibrations.normal_modes(_diatomic_hessian(positions, 1.0), positions, masses)
    # dipole derivative along z of 1 e on atom 2 and -1 e on atom 1 (a rigid charge pair)
    dipole_derivatives = np.zeros((6, 3))
    dipole_derivatives[2, 2], dipole_derivatives[5, 2] = -1.0, 1.0
    mu = masses.prod() / masses.sum()
    intensity = vibrations.ir_intensities(dipole_derivatives, modes)
    assert intensity[0] == pytest.approx(vibrations.IR_KM_PER_MOL / mu, rel=1e-9)
    # an isotropic polarisability derivative gives S = 45 a'^2 (no anisotropy)
    alpha_derivatives = np.zeros((6, 3, 3))
    alpha_derivatives[5] = np.eye(3)
    alpha_derivatives[2] = -np.eye(3)
    activity = vibrations.raman_activities(alpha_derivatives, modes)
    assert activity[0] == pytest.approx(45 * vibrations.RAMAN_A4_PER_AMU / mu, rel=1e-9)


def test_field_points_are_nineteen_distinct_vectors() -> None:
    points = np.array(vibrations.field_points(0.002))
    assert points.shape == (19, 3)
    assert len({tuple(p) for p in points}) == 19
    assert np.allclose(np.abs(points[points != 0]), 0.002)


# --- NMR grouping -------------------------------------------------------------------------------
def test_equivalent_atoms_are_grouped_with_multiplicities() -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(C)C"))  # isobutane: 3 CH3 + CH, 9 + 1 H
    classes = nmr.equivalence_classes(mol)
    shifts = np.full(mol.GetNumAtoms(), np.nan)
    carbons = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 6]
    shifts[carbons] = [24.0, 25.0, 24.5, 24.2]  # atom 1 is the CH
    lines = nmr.group_equivalent(shifts, classes)
    assert lines == [(25.0, 1), (pytest.approx(24.2333, abs=1e-3), 3)]
    hydrogens = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1]
    h = np.full(mol.GetNumAtoms(), np.nan)
    h[hydrogens] = 1.0
    assert sorted(n for _, n in nmr.group_equivalent(h, classes)) == [1, 9]


def test_with_coordinates_rejects_wrong_shape() -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("O"))
    with pytest.raises(SimulationError) as info:
        nmr.with_coordinates(mol, np.zeros((2, 3)))
    assert info.value.stage == "nmr"


# --- records ------------------------------------------------------------------------------------
def _record(**changes: object) -> SimulationRecord:
    fields = dict(
        smiles="O", canonical_smiles="O", inchikey="XLYOFNOQVPJJNP-UHFFFAOYSA-N", formula="H2O",
        charge=0, unpaired_electrons=0, atomic_numbers=[8, 1, 1],
        coordinates=[[0.0, 0.0, 0.1], [0.0, 0.76, -0.5], [0.0, -0.76, -0.5]], energy=-5.07,
        frequencies=[1600.0, 3650.0, 3750.0], ir_intensities=[60.0, 5.0, 20.0],
        raman_activities=[5.0, 70.0, 30.0], dipole=[0.0, 0.0, 0.8],
        polarizability=np.eye(3) * 5.0, h_shifts=[(1.5, 2)], c_shifts=[],
        imaginary_rounds=1, n_imaginary=0, timings={"total": 0.1},
        settings=SimulationSettings().to_dict(), versions={"tblite": "0.8.0"}, warnings=["x"],
    )
    fields.update(changes)
    return SimulationRecord(**fields)


def _assert_same(a: SimulationRecord, b: SimulationRecord) -> None:
    assert a.to_dict() == b.to_dict()


def test_record_round_trips_through_dict_json_arrays_and_pickle(tmp_path) -> None:
    record = _record()
    _assert_same(SimulationRecord.from_dict(record.to_dict()), record)
    _assert_same(SimulationRecord.from_json(record.to_json()), record)
    json.dumps(record.to_dict())  # plain JSON types only
    path = tmp_path / "rec.npz"
    np.savez(path, **record.to_arrays())
    with np.load(path, allow_pickle=False) as data:
        _assert_same(SimulationRecord.from_arrays(data), record)
    _assert_same(pickle.loads(pickle.dumps(record)), record)
    failed_nmr = _record(h_shifts=None)
    back = SimulationRecord.from_arrays(failed_nmr.to_arrays())
    assert back.h_shifts is None and back.c_shifts == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ir_intensities": [1.0, 2.0]}, "ir_intensities"),
        ({"coordinates": [[0.0, 0.0, 0.0]]}, "coordinates"),
        ({"frequencies": [np.nan, 1.0, 2.0]}, "NaN"),
        ({"h_shifts": [(1.0, 0)]}, "h_shifts"),
        ({"c_shifts": [(1.0, 1.5)]}, "c_shifts"),
        ({"h_shifts": [1.0]}, "h_shifts"),
    ],
)
def test_bad_records_raise(changes: dict, message: str) -> None:
    with pytest.raises(MspectmolError, match=message):
        _record(**changes)


def test_record_from_bad_data_raises() -> None:
    data = _record().to_dict()
    with pytest.raises(MspectmolError, match="format"):
        SimulationRecord.from_dict({**data, "format": 99})
    del data["energy"]
    with pytest.raises(MspectmolError, match="energy"):
        SimulationRecord.from_dict(data)
    with pytest.raises(MspectmolError, match="JSON"):
        SimulationRecord.from_json("{not json")
