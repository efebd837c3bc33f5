"""Physics tests of the GFN2-xTB / CSP5 simulator on small molecules (tblite, ase, csp5 needed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tblite")
pytest.importorskip("ase")
pytest.importorskip("csp5")

from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem  # noqa: E402

from mspectmol.data.simulator import (  # noqa: E402
    SimulationError,
    SimulationRecord,
    SimulationSettings,
    geometry,
    nmr,
    simulate_molecule,
    vibrations,
)
from mspectmol.data.simulator.geometry import coords_for_smiles, parse_smiles  # noqa: E402
from mspectmol.data.simulator.xtb import BOHR_ANGSTROM, GFN2Engine, single_thread  # noqa: E402

_CACHE: dict[str, SimulationRecord] = {}


def simulated(smiles: str) -> SimulationRecord:
    """Simulate once per test session with default settings."""
    if smiles not in _CACHE:
        _CACHE[smiles] = simulate_molecule(smiles)
    return _CACHE[smiles]


def band_in(record: SimulationRecord, low: float, high: float) -> float:
    """The largest IR intensity of the modes between low and high cm-1 (0 when none)."""
    window = (record.frequencies >= low) & (record.frequencies <= high)
    return float(record.ir_intensities[window].max()) if window.any() else 0.0


def test_acetone_strongest_ir_band_is_the_carbonyl_stretch() -> None:
    record = simulated("CC(C)=O")
    strongest = record.frequencies[np.argmax(record.ir_intensities)]
    assert 1700.0 <= strongest <= 1850.0
    assert record.n_imaginary == 0
    assert record.formula == "C3H6O" and record.inchikey == "CSCPPACGZOOCGX-UHFFFAOYSA-N"


def test_acetonitrile_has_a_nitrile_band() -> None:
    record = simulated("CC#N")
    assert band_in(record, 2200.0, 2450.0) > 10.0
    # no other fundamental between the C-H stretches and the fingerprint region
    others = (record.frequencies > 1600) & (record.frequencies < 2900)
    assert others.sum() == 1


def test_methane_is_a_minimum_with_td_degeneracies() -> None:
    record = simulated("C")
    freqs = record.frequencies
    assert freqs.shape == (9,)  # 3N - 6
    assert (freqs > 0).all() and record.n_imaginary == 0 and record.imaginary_rounds == 0
    # ascending: T2 bend (3), E bend (2), A1 stretch (1), T2 stretch (3)
    assert np.ptp(freqs[0:3]) < 2.0 and np.ptp(freqs[3:5]) < 2.0 and np.ptp(freqs[6:9]) < 2.0
    assert freqs[3] - freqs[2] > 50.0 and freqs[6] - freqs[5] > 5.0
    # the E and A1 modes are IR-inactive, the T2 modes active; all are Raman-allowed
    assert record.ir_intensities[3:6].max() < 0.05 * record.ir_intensities.max()
    assert record.ir_intensities[[0, 1, 2, 6, 7, 8]].min() > 1.0
    assert np.isfinite(record.raman_activities).all() and (record.raman_activities >= 0).all()
    assert record.raman_activities[5] == record.raman_activities.max()  # A1 C-H stretch


def test_water_raman_activities_are_finite_and_non_negative() -> None:
    record = simulated("O")
    assert record.frequencies.shape == (3,)
    raman = record.raman_activities
    assert np.isfinite(raman).all() and (raman >= 0).all()
    assert raman[1] > raman[0]  # symmetric stretch scatters more than the bend
    assert np.all(np.linalg.eigvalsh(record.polarizability) > 0)


def test_acetylene_is_linear_and_obeys_mutual_exclusion() -> None:
    record = simulated("C#C")
    assert record.frequencies.shape == (7,)  # 3N - 5
    ir, raman = record.ir_intensities, record.raman_activities
    ir_active = ir > 1e-3 * ir.max()
    raman_active = raman > 1e-3 * raman.max()
    assert ir_active.any() and raman_active.any()
    assert not (ir_active & raman_active).any()


def test_ethanol_carbon_and_proton_shifts() -> None:
    record = simulated("CCO")
    mol = parse_smiles("CCO")
    carbon = nmr.atom_shifts(mol, record.coordinates, "13C")
    assert carbon[0] < carbon[1]  # CH3 below CH2-O
    assert [n for _, n in record.c_shifts] == [1, 1]
    assert record.c_shifts[0][0] == pytest.approx(carbon[1])
    assert sorted(n for _, n in record.h_shifts) == [1, 2, 3]
    ch2 = next(s for s, n in record.h_shifts if n == 2)
    ch3 = next(s for s, n in record.h_shifts if n == 3)
    assert ch2 > ch3


def test_molecule_without_hydrogen_has_an_empty_proton_list() -> None:
    record = simulated("ClC(Cl)(Cl)Cl")
    assert record.h_shifts == [] and [n for _, n in record.c_shifts] == [1]


def test_record_is_rotation_invariant_and_stores_provenance() -> None:
    record = simulated("CCO")
    assert record.settings == SimulationSettings().to_dict()
    assert {"tblite", "csp5", "rdkit", "ase"} <= set(record.versions)
    assert {"optimise", "hessian", "raman", "nmr", "total"} <= set(record.timings)
    # frequencies from the Hessian of a rigidly rotated copy agree
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                    [0, 0, 1]])
    positions = record.coordinates @ rot.T / BOHR_ANGSTROM
    masses = np.array([a.GetMass() for a in parse_smiles("CCO").GetAtoms()])
    with single_thread():
        engine = GFN2Engine(record.atomic_numbers)
        hessian, _ = vibrations.finite_difference_hessian(engine, positions, 0.005 / BOHR_ANGSTROM)
    freqs = vibrations.normal_modes(hessian, positions, masses).frequencies
    np.testing.assert_allclose(freqs, record.frequencies, atol=1.0)


def test_polarizability_derivative_matches_brute_force() -> None:
    record = simulated("O")
    positions = record.coordinates / BOHR_ANGSTROM
    strength, step = 0.002, 0.005 / BOHR_ANGSTROM

    def alpha_at(x: np.ndarray) -> np.ndarray:
        return vibrations.polarizability_derivatives(
            GFN2Engine(record.atomic_numbers, accuracy=0.01), x, strength
        ).polarizability

    with single_thread():
        response = vibrations.polarizability_derivatives(
            GFN2Engine(record.atomic_numbers, accuracy=0.01), positions, strength
        )
        k = 2  # z of the oxygen
        plus, minus = positions.copy(), positions.copy()
        plus.reshape(-1)[k] += step
        minus.reshape(-1)[k] -= step
        brute = (alpha_at(plus) - alpha_at(minus)) / (2 * step)
    assert np.abs(brute).max() > 0.1
    np.testing.assert_allclose(response.derivatives[k], brute, atol=0.02 * np.abs(brute).max())


def _eclipsed_ethane() -> np.ndarray:
    """Eclipsed ethane (a torsional saddle point), in the atom order of parse_smiles('CC')."""
    cc, ch, angle = 1.53, 1.09, np.deg2rad(111.0)
    phis = 2 * np.pi * np.arange(3) / 3
    r, z = ch * np.sin(angle), ch * np.cos(angle)
    h0 = np.c_[r * np.cos(phis), r * np.sin(phis), np.full(3, z)]
    h1 = np.c_[r * np.cos(phis), r * np.sin(phis), np.full(3, cc - z)]
    return np.vstack([[0, 0, 0], [0, 0, cc], h0, h1])


def test_saddle_point_is_displaced_and_reoptimised() -> None:
    start = _eclipsed_ethane()
    fixed = simulate_molecule("CC", coords=start)
    assert fixed.imaginary_rounds >= 1 and fixed.n_imaginary == 0
    assert (fixed.frequencies > 0).all()
    stuck = simulate_molecule("CC", SimulationSettings(max_imaginary_rounds=0), coords=start)
    assert stuck.n_imaginary == 1 and stuck.frequencies[0] < -20.0
    assert stuck.energy > fixed.energy
    assert any("remain" in w for w in stuck.warnings)


def test_given_geometry_in_another_atom_order_is_used() -> None:
    mol3d = Chem.AddHs(Chem.MolFromSmiles("OC"))  # O first, unlike "CO"
    AllChem.EmbedMolecule(mol3d, randomSeed=3)
    coords = coords_for_smiles(mol3d, "CO")
    symbols = [a.GetSymbol() for a in parse_smiles("CO").GetAtoms()]
    assert symbols[:2] == ["C", "O"]
    assert np.allclose(coords[0], mol3d.GetConformer().GetAtomPosition(1))
    record = simulate_molecule("CO", coords=coords)
    reference = simulate_molecule("CO")
    assert record.energy == pytest.approx(reference.energy, abs=2e-4)


def test_strained_cage_gets_conformers_of_its_own_stereo() -> None:
    # ETKDG's final tetrahedral-volume check rejects every embedding of this azabicycle
    smiles = "C[C@]12[C@H]([C@H]3CN31)[C@@H]2C=O"
    mol = parse_smiles(smiles)
    with pytest.raises(SimulationError) as info:
        geometry.embed_conformers(mol, 1, 42, chirality_check="etkdg")
    assert info.value.stage == "conformers"
    conformers = geometry.embed_conformers(mol, 4, 42)
    assert len(conformers) == 4
    for coords in conformers:
        assert geometry.stereo_matches(nmr.with_coordinates(mol, coords), mol)
    assert not geometry.stereo_matches(nmr.with_coordinates(mol, conformers[0] * [-1, 1, 1]), mol)
    again = geometry.embed_conformers(mol, 4, 42)  # deterministic
    np.testing.assert_allclose(np.array(again), np.array(conformers), atol=1e-8)


def test_structure_no_geometry_fits_fails_after_the_probe(monkeypatch) -> None:
    # a benzene bridged across (meta) by CH2-NH and CH2 to a pyrazole: no geometry fits
    mol = parse_smiles("Cc1ccc2c(c1)CNc1cc(n[nH]1)C2")
    calls = []
    embed = geometry._embed
    monkeypatch.setattr(geometry, "_embed", lambda *a, **k: calls.append(k) or embed(*a, **k))
    with pytest.raises(SimulationError, match="could not embed") as info:
        geometry.embed_conformers(mol, 10, 42)
    assert info.value.stage == "conformers"
    # the two probes only, not the ~70 conformers of the full search
    assert [(c.get("max_iterations", 0), c.get("random_coords", False)) for c in calls] == [
        (geometry.PROBE_ITERATIONS, False), (0, True)]
    assert not geometry.embeddable(mol, 42)


def test_the_probe_leaves_embeddable_molecules_as_they_were(monkeypatch) -> None:
    mol = parse_smiles("CC(C)CCNc1ncc(F)cc1C(=O)O")
    assert geometry.embeddable(mol, 42) and mol.GetNumConformers() == 0
    probed = geometry.embed_conformers(mol, 3, 42)
    monkeypatch.setattr(geometry, "embeddable", lambda *_: True)
    unprobed = geometry.embed_conformers(mol, 3, 42)
    np.testing.assert_array_equal(np.array(probed), np.array(unprobed))


def test_stereo_check_sees_double_bonds_and_ignores_unspecified_stereo() -> None:
    trans = parse_smiles("C/C=C/C")
    coords = geometry.embed_conformers(trans, 1, 7)[0]
    assert geometry.stereo_matches(nmr.with_coordinates(trans, coords), trans)
    cis = parse_smiles("C/C=C\\C")
    assert not geometry.stereo_matches(nmr.with_coordinates(cis, coords), cis)
    unspecified = parse_smiles("CC=CC")
    assert geometry.stereo_matches(nmr.with_coordinates(unspecified, coords), unspecified)


def test_optimisers_reach_the_same_minimum() -> None:
    mol = parse_smiles("CCCO")
    start = geometry.embed_conformers(mol, 1, 42)[0]
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    results = {}
    with single_thread():
        for name in ("bfgs", "precon_lbfgs"):
            engine = GFN2Engine(numbers)
            coords, energy, steps = geometry.optimise(engine, start, 0.003, 600, name)
            forces = -engine.compute(coords / BOHR_ANGSTROM).gradient * (
                27.211386245988 / BOHR_ANGSTROM
            )
            assert np.linalg.norm(forces, axis=1).max() <= 0.003
            assert np.allclose(coords.mean(axis=0), start.mean(axis=0), atol=0.05)
            results[name] = (energy, engine.n_calls)
    assert results["precon_lbfgs"][0] == pytest.approx(results["bfgs"][0], abs=1e-5)
    with pytest.raises(SimulationError, match="unknown optimizer"):
        geometry.optimise(GFN2Engine(numbers), start, 0.003, 10, "newton")


def test_broken_line_search_falls_back_to_bfgs(monkeypatch: pytest.MonkeyPatch) -> None:
    from ase.optimize.precon import PreconLBFGS

    def broken(self, forces=None):
        raise RuntimeError("Armijo linesearch failed after reset of Hessian, aborting")

    monkeypatch.setattr(PreconLBFGS, "step", broken)
    mol = parse_smiles("CO")
    start = geometry.embed_conformers(mol, 1, 42)[0]
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    with single_thread():
        _, energy, steps = geometry.optimise(GFN2Engine(numbers), start, 0.003, 600)
        _, reference, _ = geometry.optimise(GFN2Engine(numbers), start, 0.003, 600, "bfgs")
    assert steps > 0 and energy == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize(
    ("smiles", "kwargs", "stage"),
    [
        ("C1CC", {}, "parse"),
        ("not a smiles", {}, "parse"),
        ("", {}, "parse"),
        ("CCO.O", {}, "parse"),
        ("[U]", {}, "parse"),
        ("CCO", {"coords": np.zeros((3, 3))}, "parse"),
        ("CCCCO", {"settings": SimulationSettings(max_opt_steps=1)}, "optimise"),
    ],
)
def test_failures_name_their_stage(smiles: str, kwargs: dict, stage: str) -> None:
    with pytest.raises(SimulationError) as info:
        simulate_molecule(smiles, **kwargs)
    assert info.value.stage == stage
    assert stage in str(info.value)


def test_coords_for_smiles_rejects_another_molecule() -> None:
    other = Chem.AddHs(Chem.MolFromSmiles("CC"))
    AllChem.EmbedMolecule(other, randomSeed=1)
    with pytest.raises(SimulationError, match="atoms"):
        coords_for_smiles(other, "CO")


def test_runs_silently_on_one_thread(capfd: pytest.CaptureFixture[str]) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    simulate_molecule("CC=O")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    with single_thread():
        pools = threadpoolctl.threadpool_info()
    assert any(pool["internal_api"] == "openmp" for pool in pools)  # tblite's libgomp is loaded
    assert all(pool["num_threads"] == 1 for pool in pools)
