"""Settings of the spectrum simulator, with a stable hash for caching results."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from mspectmol.errors import MspectmolError

#: Bumped whenever the simulation recipe changes in a way that changes its results; it is part of
#: :meth:`SimulationSettings.stable_hash`, so cached results of an older recipe are not reused.
RECIPE_VERSION = 1

#: Geometry optimisers of :func:`mspectmol.data.simulator.geometry.optimise`: ASE's L-BFGS with
#: the ``Exp`` preconditioner and Armijo line search (about a third fewer GFN2-xTB gradients on
#: QM9-size molecules), or ASE's plain Cartesian BFGS (the recipe's first optimiser).
OPTIMIZERS: tuple[str, ...] = ("precon_lbfgs", "bfgs")

#: How :func:`mspectmol.data.simulator.geometry.embed_conformers` makes sure each conformer has
#: the stereochemistry of the SMILES: ``"perceived"`` embeds without ETKDG's final chirality and
#: tetrahedral-volume checks and keeps the conformers whose stereo, perceived from their 3D
#: coordinates, matches the SMILES (falling back to ``"etkdg"`` when none does); ``"etkdg"``
#: relies on those checks alone, which reject valid geometries of strained ring systems and then
#: retry for seconds before giving up.
CHIRALITY_CHECKS: tuple[str, ...] = ("perceived", "etkdg")


@dataclass(frozen=True)
class SimulationSettings:
    """How one molecule is simulated (GFN2-xTB geometry, IR, Raman; CSP5 NMR).

    Attributes
    ----------
    n_conformers
        ETKDG conformers embedded and MMFF-optimised.
    n_rerank
        The lowest-MMFF conformers re-ranked by a GFN2-xTB single point.
    fmax
        Convergence threshold of the GFN2-xTB optimisation: largest atomic force, eV/Angstrom.
    max_opt_steps
        Most optimiser steps per optimisation before the molecule fails at stage ``optimise``.
    hessian_step
        Cartesian displacement of the central finite differences of the gradient, Angstrom.
    field_strength
        Static electric field of the polarisability finite differences, atomic units.
    max_imaginary_rounds
        Most displace-and-reoptimise rounds when the Hessian has an imaginary mode.
    imaginary_threshold
        Frequencies (cm-1, imaginary ones negative) below this count as imaginary modes.
    displacement
        Largest atomic displacement (Angstrom) along an imaginary mode before re-optimising.
    accuracy
        tblite's numerical accuracy (1.0 is its default; smaller is tighter).
    field_accuracy
        tblite accuracy of the 19 electric-field single points (the polarisability derivatives
        are second differences of gradients and need a tighter SCF; the smaller of the two
        accuracies is used).
    seed
        Random seed of the ETKDG embedding.
    optimizer
        Geometry optimiser, one of :data:`OPTIMIZERS`; every optimiser stops at the same
        ``fmax`` criterion.
    chirality_check
        How conformers are checked for the stereochemistry of the SMILES, one of
        :data:`CHIRALITY_CHECKS`.
    """

    n_conformers: int = 10
    n_rerank: int = 3
    fmax: float = 0.003
    max_opt_steps: int = 600
    hessian_step: float = 0.005
    field_strength: float = 0.002
    max_imaginary_rounds: int = 3
    imaginary_threshold: float = -20.0
    displacement: float = 0.15
    accuracy: float = 1.0
    field_accuracy: float = 0.01
    seed: int = 42
    optimizer: str = "precon_lbfgs"
    chirality_check: str = "perceived"

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _coerce(self, field.name, type(field.default))
        checks = {
            "n_conformers": self.n_conformers >= 1,
            "n_rerank": self.n_rerank >= 1,
            "fmax": 0.0 < self.fmax < 1.0,
            "max_opt_steps": self.max_opt_steps >= 1,
            "hessian_step": 0.0 < self.hessian_step <= 0.05,
            "field_strength": 0.0 < self.field_strength <= 0.05,
            "max_imaginary_rounds": self.max_imaginary_rounds >= 0,
            "imaginary_threshold": -1000.0 <= self.imaginary_threshold <= 0.0,
            "displacement": 0.0 < self.displacement <= 1.0,
            "accuracy": 1e-4 <= self.accuracy <= 1000.0,
            "field_accuracy": 1e-4 <= self.field_accuracy <= 1000.0,
            "seed": self.seed >= 0,
            "optimizer": self.optimizer in OPTIMIZERS,
            "chirality_check": self.chirality_check in CHIRALITY_CHECKS,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            choices = {"optimizer": OPTIMIZERS, "chirality_check": CHIRALITY_CHECKS}
            known = "".join(
                f" ({name} must be one of {list(choices[name])})" for name in bad if name in choices
            )
            raise MspectmolError(f"invalid simulation settings: {values}{known}")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain, JSON-able dictionary."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationSettings:
        """Build settings from :meth:`to_dict` output; unknown keys are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MspectmolError(f"unknown simulation settings: {', '.join(unknown)}")
        return cls(**data)

    def stable_hash(self) -> str:
        """Return a 16-hex-digit hash of the settings and :data:`RECIPE_VERSION`.

        The hash depends only on the values (not on Python's per-process hash seed), so it can
        be stored on disk and combined with an InChIKey as a cache key.
        """
        payload = {"recipe": RECIPE_VERSION, **self.to_dict()}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _coerce(settings: SimulationSettings, name: str, kind: type) -> None:
    """Store field ``name`` as ``kind`` (int, float or str) so that equal values hash alike."""
    value = getattr(settings, name)
    if kind is str:
        if not isinstance(value, str):
            raise MspectmolError(
                f"invalid simulation setting {name}={value!r}: expected str"
            )
        return
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        converted = kind(value)
        if kind is int and converted != value:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise MspectmolError(
            f"invalid simulation setting {name}={value!r}: expected {kind.__name__}"
        ) from None
    object.__setattr__(settings, name, converted)
