"""The result of simulating one molecule, as physical peak lists plus the optimised geometry.

A :class:`SimulationRecord` converts losslessly to a plain JSON-able dictionary and to a flat
dictionary of numpy arrays (for ``numpy.savez``; readable with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError

#: Format version of :meth:`SimulationRecord.to_dict` and :meth:`SimulationRecord.to_arrays`.
RECORD_FORMAT = 1

_SCALARS = ("smiles", "canonical_smiles", "inchikey", "formula", "charge", "unpaired_electrons",
            "energy", "imaginary_rounds", "n_imaginary")
_ARRAYS = {  # name -> (dtype, trailing shape)
    "atomic_numbers": (int, ()),
    "coordinates": (float, (3,)),
    "frequencies": (float, ()),
    "ir_intensities": (float, ()),
    "raman_activities": (float, ()),
    "dipole": (float, ()),
    "polarizability": (float, (3,)),
}
_PEAKS = ("h_shifts", "c_shifts")
_META = ("timings", "settings", "versions", "warnings")

Peaks = list[tuple[float, int]]


@dataclass(frozen=True, eq=False)
class SimulationRecord:
    """Simulated spectra of one molecule.

    Attributes
    ----------
    smiles
        The SMILES as given; ``Chem.AddHs(Chem.MolFromSmiles(smiles))`` has the atom order of
        ``atomic_numbers`` and ``coordinates``.
    canonical_smiles, inchikey, formula
        Identifiers of the molecule (RDKit).
    charge, unpaired_electrons
        Total charge and number of unpaired electrons used in GFN2-xTB.
    atomic_numbers
        (N,) atomic numbers, hydrogens included.
    coordinates
        (N, 3) GFN2-xTB optimised geometry, Angstrom.
    energy
        GFN2-xTB total energy at that geometry, Hartree.
    frequencies
        (M,) harmonic wavenumbers, cm-1, ascending (M = 3N-6, or 3N-5 if linear); imaginary
        modes are negative.
    ir_intensities
        (M,) IR intensities, km/mol.
    raman_activities
        (M,) Raman scattering activities, Angstrom^4/amu.
    dipole
        (3,) dipole moment, e*Bohr.
    polarizability
        (3, 3) static polarisability, Bohr^3.
    h_shifts, c_shifts
        1H / 13C peak lists ``[(shift_ppm, n_atoms)]``, highest shift first; empty when the
        molecule has no such atom, None when the prediction failed (see ``warnings``).
    imaginary_rounds
        Displace-and-reoptimise rounds spent on imaginary modes.
    n_imaginary
        Modes still below the imaginary threshold at the end (0 for a true minimum).
    timings
        Wall time per stage, seconds.
    settings
        :meth:`SimulationSettings.to_dict` of the run.
    versions
        Versions of the packages that produced the numbers.
    warnings
        Non-fatal problems (e.g. a failed NMR prediction or remaining imaginary modes).
    """

    smiles: str
    canonical_smiles: str
    inchikey: str
    formula: str
    charge: int
    unpaired_electrons: int
    atomic_numbers: np.ndarray
    coordinates: np.ndarray
    energy: float
    frequencies: np.ndarray
    ir_intensities: np.ndarray
    raman_activities: np.ndarray
    dipole: np.ndarray
    polarizability: np.ndarray
    h_shifts: Peaks | None
    c_shifts: Peaks | None
    imaginary_rounds: int = 0
    n_imaginary: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, (dtype, trailing) in _ARRAYS.items():
            value = np.array(getattr(self, name), dtype=dtype)
            if value.ndim != 1 + len(trailing) or value.shape[1:] != trailing:
                raise MspectmolError(f"simulation record: '{name}' has shape {value.shape}")
            if not np.isfinite(value).all():
                raise MspectmolError(f"simulation record: '{name}' has NaN or inf values")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        n_atoms, n_modes = len(self.atomic_numbers), len(self.frequencies)
        expected = {"coordinates": n_atoms, "ir_intensities": n_modes,
                    "raman_activities": n_modes, "dipole": 3, "polarizability": 3}
        for name, length in expected.items():
            if len(getattr(self, name)) != length:
                raise MspectmolError(
                    f"simulation record: '{name}' has {len(getattr(self, name))} rows, "
                    f"expected {length}"
                )
        for name in _PEAKS:
            object.__setattr__(self, name, _peaks(getattr(self, name), name))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able dictionary (lists, numbers and strings only)."""
        out: dict[str, Any] = {"format": RECORD_FORMAT}
        for name in _SCALARS:
            out[name] = getattr(self, name)
        for name in _ARRAYS:
            out[name] = getattr(self, name).tolist()
        for name in _PEAKS:
            peaks = getattr(self, name)
            out[name] = None if peaks is None else [[s, n] for s, n in peaks]
        for name in _META:
            out[name] = json.loads(json.dumps(getattr(self, name)))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationRecord:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        MspectmolError
            When a key is missing, the format is unknown or a value has the wrong shape.
        """
        if data.get("format") != RECORD_FORMAT:
            raise MspectmolError(
                f"simulation record: unsupported format {data.get('format')!r} "
                f"(expected {RECORD_FORMAT})"
            )
        missing = [k for k in (*_SCALARS, *_ARRAYS, *_PEAKS, *_META) if k not in data]
        if missing:
            raise MspectmolError(f"simulation record: missing keys {missing}")
        kwargs = {k: data[k] for k in (*_SCALARS, *_ARRAYS, *_PEAKS, *_META)}
        for name in ("charge", "unpaired_electrons", "imaginary_rounds", "n_imaginary"):
            kwargs[name] = int(kwargs[name])
        kwargs["energy"] = float(kwargs["energy"])
        return cls(**kwargs)

    def to_json(self) -> str:
        """The :meth:`to_dict` dictionary as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> SimulationRecord:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MspectmolError(f"simulation record: invalid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise MspectmolError("simulation record: JSON is not an object")
        return cls.from_dict(data)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dictionary of numpy arrays (no object arrays), e.g. for ``numpy.savez``.

        Peak lists become (K, 2) float arrays ``[shift, n_atoms]`` with a boolean
        ``<name>_available``; strings become unicode arrays; timings, settings, versions and
        warnings are one JSON string under ``meta_json``.
        """
        out: dict[str, np.ndarray] = {"format": np.array(RECORD_FORMAT)}
        for name in _SCALARS:
            out[name] = np.array(getattr(self, name))
        for name in _ARRAYS:
            out[name] = np.array(getattr(self, name))
        for name in _PEAKS:
            peaks = getattr(self, name)
            out[name] = np.array(peaks or [], dtype=float).reshape(-1, 2)
            out[f"{name}_available"] = np.array(peaks is not None)
        meta = {name: getattr(self, name) for name in _META}
        out["meta_json"] = np.array(json.dumps(meta))
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> SimulationRecord:
        """Inverse of :meth:`to_arrays` (accepts a dict or an opened ``.npz`` file)."""
        try:
            data: dict[str, Any] = {"format": int(arrays["format"])}
            for name in (*_SCALARS, *_ARRAYS):
                data[name] = arrays[name].tolist()
            for name in _PEAKS:
                available = bool(arrays[f"{name}_available"])
                data[name] = arrays[name].tolist() if available else None
            data.update(json.loads(str(arrays["meta_json"])))
        except (KeyError, ValueError, TypeError) as exc:
            raise MspectmolError(f"simulation record: bad array data ({exc})") from exc
        return cls.from_dict(data)


def _peaks(value: Any, name: str) -> Peaks | None:
    """Validate and normalise a peak list to ``[(float shift, int n_atoms)]``."""
    if value is None:
        return None
    try:
        pairs = [(float(shift), float(count)) for shift, count in value]
    except (TypeError, ValueError) as exc:
        raise MspectmolError(f"simulation record: '{name}' is not a list of pairs") from exc
    if any(not np.isfinite([s, n]).all() or n < 1 or n != int(n) for s, n in pairs):
        raise MspectmolError(
            f"simulation record: '{name}' has a non-finite shift or a count that is not a "
            "positive integer"
        )
    return [(s, int(n)) for s, n in pairs]
