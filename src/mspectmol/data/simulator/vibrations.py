"""Harmonic vibrations, IR intensities and Raman activities from GFN2-xTB gradients.

The Hessian is built from central finite differences of analytic gradients; the dipoles of the
same displaced points give the dipole derivatives (IR). Polarisability derivatives (Raman) come
from gradients under small static electric fields: d(alpha_ab)/dx = -d2(dE/dx)/dF_a dF_b, by
central differences over 19 field points. Internally everything is in atomic units (Bohr,
Hartree, e, amu for masses); results are in cm-1, km/mol and Angstrom^4/amu.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from mspectmol.data.simulator.xtb import BOHR_ANGSTROM, GFN2Engine

# CODATA 2018 constants (SI).
_HARTREE_J = 4.3597447222071e-18
_BOHR_M = 5.29177210903e-11
_AMU_KG = 1.66053906660e-27
_C_CM_S = 2.99792458e10
_C_M_S = 2.99792458e8
_E_C = 1.602176634e-19
_EPS0 = 8.8541878128e-12
_AVOGADRO = 6.02214076e23

#: sqrt(Hartree / (Bohr^2 amu)) expressed as a wavenumber, cm-1 (about 5140.49).
EIGENVALUE_TO_WAVENUMBER = float(
    np.sqrt(_HARTREE_J / (_BOHR_M**2 * _AMU_KG)) / (2 * np.pi * _C_CM_S)
)
#: IR intensity in km/mol of a dipole derivative of 1 e/sqrt(amu) (about 974.88):
#: A = N_A / (12 eps0 c^2) |d mu/dQ|^2 (Wilson, Decius & Cross; the usual quantum-chemistry unit).
IR_KM_PER_MOL = float(_AVOGADRO / (12 * _EPS0 * _C_M_S**2) * _E_C**2 / _AMU_KG / 1000.0)
#: Raman activity in Angstrom^4/amu of a polarisability derivative of 1 Bohr^2/sqrt(amu).
RAMAN_A4_PER_AMU = BOHR_ANGSTROM**4


@dataclass(frozen=True)
class NormalModes:
    """Harmonic normal modes.

    Attributes
    ----------
    frequencies
        Wavenumbers in cm-1, ascending; imaginary modes are negative.
    mass_weighted
        Orthonormal mass-weighted eigenvectors, shape (3N, n_modes).
    cartesian
        The same modes as Cartesian displacement directions (not normalised), (3N, n_modes).
    """

    frequencies: np.ndarray
    mass_weighted: np.ndarray
    cartesian: np.ndarray


def finite_difference_hessian(
    engine: GFN2Engine, positions: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Hessian and dipole derivatives by central differences of gradients (6N single points).

    Parameters
    ----------
    engine
        GFN2-xTB engine of the molecule.
    positions
        Geometry, Bohr (N x 3).
    step
        Displacement of each Cartesian coordinate, Bohr.

    Returns
    -------
    tuple
        Symmetrised Hessian (3N x 3N, Hartree/Bohr^2) and dipole derivatives (3N x 3, e).
    """
    flat = np.asarray(positions, dtype=float).reshape(-1)
    n = flat.size
    hessian = np.empty((n, n))
    dipole_derivatives = np.empty((n, 3))
    for k in range(n):
        points = []
        for sign in (1.0, -1.0):
            shifted = flat.copy()
            shifted[k] += sign * step
            points.append(engine.compute(shifted.reshape(-1, 3)))
        hessian[k] = (points[0].gradient.reshape(-1) - points[1].gradient.reshape(-1)) / (2 * step)
        dipole_derivatives[k] = (points[0].dipole - points[1].dipole) / (2 * step)
    return 0.5 * (hessian + hessian.T), dipole_derivatives


def internal_basis(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Orthonormal basis of mass-weighted displacements free of translation and rotation.

    Returns an array (3N, 3N - 6) for a non-linear molecule, (3N, 3N - 5) for a linear one.
    """
    positions = np.asarray(positions, dtype=float)
    sqrt_m = np.sqrt(np.asarray(masses, dtype=float))
    centred = positions - (masses[:, None] * positions).sum(axis=0) / masses.sum()
    vectors = []
    for axis in np.eye(3):
        vectors.append((np.tile(axis, (len(masses), 1)) * sqrt_m[:, None]).reshape(-1))
        vectors.append((np.cross(axis, centred) * sqrt_m[:, None]).reshape(-1))
    u, s, _ = np.linalg.svd(np.array(vectors).T, full_matrices=True)
    rank = int((s > 1e-6 * s.max()).sum())
    return u[:, rank:]


def normal_modes(hessian: np.ndarray, positions: np.ndarray, masses: np.ndarray) -> NormalModes:
    """Diagonalise the mass-weighted Hessian with translations and rotations projected out.

    Parameters
    ----------
    hessian
        Cartesian Hessian, Hartree/Bohr^2 (3N x 3N).
    positions
        Geometry, Bohr (N x 3).
    masses
        Atomic masses, amu (N,).
    """
    masses = np.asarray(masses, dtype=float)
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), 3)
    weighted = hessian * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    basis = internal_basis(positions, masses)
    values, vectors = np.linalg.eigh(basis.T @ weighted @ basis)
    mass_weighted = basis @ vectors
    frequencies = np.sign(values) * np.sqrt(np.abs(values)) * EIGENVALUE_TO_WAVENUMBER
    return NormalModes(frequencies, mass_weighted, mass_weighted * inv_sqrt_m[:, None])


def ir_intensities(dipole_derivatives: np.ndarray, modes: NormalModes) -> np.ndarray:
    """IR intensities (km/mol) of each mode from Cartesian dipole derivatives (3N x 3, e)."""
    along_modes = modes.cartesian.T @ dipole_derivatives  # (n_modes, 3), e/sqrt(amu)
    return IR_KM_PER_MOL * (along_modes**2).sum(axis=1)


def field_points(strength: float) -> list[np.ndarray]:
    """The 19 field vectors: zero, +-F on each axis and (+-F, +-F) on each pair of axes."""
    points = [np.zeros(3)]
    for a in range(3):
        for sign in (1.0, -1.0):
            field = np.zeros(3)
            field[a] = sign * strength
            points.append(field)
    for a, b in itertools.combinations(range(3), 2):
        for sa, sb in itertools.product((1.0, -1.0), repeat=2):
            field = np.zeros(3)
            field[a], field[b] = sa * strength, sb * strength
            points.append(field)
    return points


@dataclass(frozen=True)
class FieldResponse:
    """Response to static electric fields at one geometry (atomic units).

    Attributes
    ----------
    dipole
        Zero-field dipole (3,), e*Bohr.
    polarizability
        Static polarisability (3, 3), Bohr^3, from the dipoles under +-F.
    derivatives
        Cartesian derivatives of the polarisability (3N, 3, 3), Bohr^2.
    """

    dipole: np.ndarray
    polarizability: np.ndarray
    derivatives: np.ndarray


def polarizability_derivatives(
    engine: GFN2Engine, positions: np.ndarray, strength: float
) -> FieldResponse:
    """Polarisability and its Cartesian derivatives from gradients under static fields.

    Parameters
    ----------
    engine
        GFN2-xTB engine of the molecule (zero field); its settings are copied for the fields.
    positions
        Geometry, Bohr (N x 3).
    strength
        Field strength F, atomic units.

    Returns
    -------
    FieldResponse
        Dipole, polarisability and polarisability derivatives.
    """
    base = engine.compute(positions)
    guess = engine.last_result
    gradients, dipoles = {}, {}
    for field in field_points(strength)[1:]:
        field_engine = GFN2Engine(
            engine.numbers,
            charge=engine.charge,
            uhf=engine.uhf,
            accuracy=engine.accuracy,
            field=field,
        )
        point = field_engine.compute(positions, guess=guess)
        key = tuple(np.sign(field).astype(int))
        gradients[key] = point.gradient.reshape(-1)
        dipoles[key] = point.dipole
    n = base.gradient.size
    derivatives = np.empty((n, 3, 3))
    alpha = np.empty((3, 3))
    unit = np.eye(3, dtype=int)
    g0 = base.gradient.reshape(-1)
    for a in range(3):
        plus, minus = tuple(unit[a]), tuple(-unit[a])
        derivatives[:, a, a] = -(gradients[plus] + gradients[minus] - 2 * g0) / strength**2
        alpha[:, a] = (dipoles[plus] - dipoles[minus]) / (2 * strength)
    for a, b in itertools.combinations(range(3), 2):
        def key(sa: int, sb: int, a: int = a, b: int = b) -> tuple[int, ...]:
            return tuple(sa * unit[a] + sb * unit[b])

        mixed = gradients[key(1, 1)] - gradients[key(1, -1)] - gradients[key(-1, 1)]
        mixed = mixed + gradients[key(-1, -1)]
        derivatives[:, a, b] = derivatives[:, b, a] = -mixed / (4 * strength**2)
    return FieldResponse(base.dipole, 0.5 * (alpha + alpha.T), derivatives)


def raman_activities(alpha_derivatives: np.ndarray, modes: NormalModes) -> np.ndarray:
    """Raman scattering activities (Angstrom^4/amu), S = 45 a'^2 + 7 g'^2, of each mode.

    ``a'`` is the mean and ``g'^2`` the anisotropy of the polarisability derivative along the
    normal coordinate (Placzek approximation; same definition as Gaussian and ORCA).
    """
    along = np.einsum("km,kab->mab", modes.cartesian, alpha_derivatives)  # Bohr^2/sqrt(amu)
    xx, yy, zz = along[:, 0, 0], along[:, 1, 1], along[:, 2, 2]
    mean = (xx + yy + zz) / 3.0
    aniso = 0.5 * ((xx - yy) ** 2 + (yy - zz) ** 2 + (zz - xx) ** 2) + 3.0 * (
        along[:, 0, 1] ** 2 + along[:, 0, 2] ** 2 + along[:, 1, 2] ** 2
    )
    return RAMAN_A4_PER_AMU * (45.0 * mean**2 + 7.0 * aniso)
