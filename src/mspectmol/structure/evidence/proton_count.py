"""Where the protons are: 1H integrals per shift region as a cheap filter before simulation.

A 1H spectrum's integrals say how many protons resonate in each region. Four broad regions
are used: below 2.8 ppm (alkyl, alkyne, amine and most alcohol protons), 2.8-5.5 ppm
(protons on carbons bound to O, N or F, oxetane and acetal protons), 5.5-8.9 ppm (alkene,
aromatic, amide and formyl protons, enols) and from 8.9 ppm (aldehydes, some N-H and
O-H). The integral fractions times the formula's proton count give observed protons per
region.

A candidate predicts the same from its graph: each proton gets one of :data:`PROTON_TYPES`
(by the atom it sits on and that atom's neighbours), and each type has a *profile*, its mean
share in each region, fitted by non-negative least squares on the training molecules of the
embedded dataset (:func:`fit_profiles`; the packaged fit is ``proton_profiles.json``). A
profile is a distribution, not a rule: alkene protons straddle 5.5 ppm, oxetane protons
4.5 ppm, and an O-H can sit almost anywhere. :func:`proton_mismatch`, the L1 distance in
protons between predicted and observed regions, is therefore a soft penalty, as the 13C line
counts of :mod:`~mspectmol.structure.evidence.carbon_count` are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from rdkit import Chem
from scipy.optimize import nnls

from mspectmol.chem.molecules import mol_from_smiles
from mspectmol.data.batches import dataset_hash
from mspectmol.data.dataset import load_dataset
from mspectmol.errors import MspectmolError

#: Region boundaries (ppm).
REGION_EDGES_PPM = (2.8, 5.5, 8.9)
REGION_NAMES = ("alkyl / amine (< 2.8 ppm)", "X-CH, oxetane, acetal (2.8-5.5 ppm)",
                "alkene / aromatic / amide (5.5-8.9 ppm)", "aldehyde (>= 8.9 ppm)")
#: Proton types; the profile matrix has one row per type, in this order.
PROTON_TYPES = ("ch_alkyl", "ch_alpha_pi", "ch_alpha_n", "ch_alpha_o", "ch_alpha_o2",
                "ch_epoxide", "ch_oxetane", "ch_alkyne", "ch_alkene", "ch_alkene_x",
                "ch_aromatic", "ch_aldehyde", "ch_formyl", "oh_alcohol", "oh_enol", "oh_acid",
                "nh_amine", "nh_amide", "nh_aromatic", "nh_imine", "other")
_INDEX = {t: i for i, t in enumerate(PROTON_TYPES)}
PROFILES_FILE = "proton_profiles.json"
PROFILES_FORMAT = 1


def _has_pi(atom: Any) -> bool:
    return atom.GetIsAromatic() or any(
        b.GetBondType() in (Chem.BondType.DOUBLE, Chem.BondType.TRIPLE) for b in atom.GetBonds())


def _carbon_type(atom: Any) -> str:
    heavy = [n for n in atom.GetNeighbors() if n.GetAtomicNum() > 1]
    hybrid = atom.GetHybridization()
    if hybrid == Chem.HybridizationType.SP3:
        n_of = sum(n.GetSymbol() in ("O", "F") for n in heavy)
        if n_of >= 2:
            return "ch_alpha_o2"
        if n_of == 1 and atom.IsInRingSize(3):
            return "ch_epoxide"
        if n_of == 1 and atom.IsInRingSize(4):
            return "ch_oxetane"
        if n_of == 1:
            return "ch_alpha_o"
        if any(n.GetSymbol() == "N" for n in heavy):
            return "ch_alpha_n"
        return "ch_alpha_pi" if any(_has_pi(n) for n in heavy) else "ch_alkyl"
    if hybrid == Chem.HybridizationType.SP:
        return "ch_alkyne"
    double = {b.GetOtherAtomIdx(atom.GetIdx()) for b in atom.GetBonds()
              if b.GetBondType() == Chem.BondType.DOUBLE}
    if any(n.GetSymbol() == "O" and n.GetIdx() in double for n in heavy):
        single_x = any(n.GetSymbol() in ("O", "N") and n.GetIdx() not in double for n in heavy)
        return "ch_formyl" if single_x else "ch_aldehyde"
    if atom.GetIsAromatic():
        return "ch_aromatic"
    return "ch_alkene_x" if any(n.GetSymbol() != "C" for n in heavy) else "ch_alkene"


def _proton_type(hydrogen: Any) -> str:
    atom = hydrogen.GetNeighbors()[0]
    heavy = [n for n in atom.GetNeighbors() if n.GetAtomicNum() > 1]
    symbol = atom.GetSymbol()
    if symbol == "C":
        return _carbon_type(atom)
    if symbol == "O" and heavy:
        bound = heavy[0]
        if any(b.GetBondType() == Chem.BondType.DOUBLE and b.GetOtherAtom(bound).GetSymbol()
               == "O" for b in bound.GetBonds()):
            return "oh_acid"
        return "oh_enol" if _has_pi(bound) else "oh_alcohol"
    if symbol == "N":
        if atom.GetIsAromatic():
            return "nh_aromatic"
        if any(b.GetBondType() == Chem.BondType.DOUBLE for b in atom.GetBonds()):
            return "nh_imine"
        return "nh_amide" if any(_has_pi(n) for n in heavy) else "nh_amine"
    return "other"


def proton_types(smiles: str) -> np.ndarray:
    """Number of protons of each :data:`PROTON_TYPES` type in a structure, shape ``(T,)``.

    Raises
    ------
    InvalidSmilesError
        When RDKit cannot parse ``smiles``.
    """
    mol = mol_from_smiles(smiles)
    counts = np.zeros(len(PROTON_TYPES), dtype=np.int64)
    for atom in Chem.AddHs(mol).GetAtoms():
        if atom.GetAtomicNum() == 1 and atom.GetDegree() == 1:
            counts[_INDEX[_proton_type(atom)]] += 1
    return counts


def proton_types_many(smiles: Sequence[str]) -> np.ndarray:
    """:func:`proton_types` of each structure, shape ``(n, T)``."""
    return np.array([proton_types(s) for s in smiles], dtype=np.int64).reshape(
        -1, len(PROTON_TYPES))


def region_integrals(intensity: np.ndarray, ppm: np.ndarray) -> np.ndarray:
    """Fraction of a 1H spectrum's integral in each region, shape ``(..., 4)``, rows sum to 1.

    ``intensity`` is ``(points,)`` or ``(n, points)`` on the ``ppm`` axis.

    Raises
    ------
    MspectmolError
        On a shape mismatch, NaN or infinite intensities, or a spectrum with no positive
        integral.
    """
    y = np.asarray(intensity, dtype=np.float64)
    x = np.asarray(ppm, dtype=np.float64)
    if x.ndim != 1 or y.shape[-1:] != x.shape:
        raise MspectmolError(f"1H spectrum of shape {y.shape} does not match its axis {x.shape}")
    if not np.all(np.isfinite(y)):
        raise MspectmolError("1H spectrum has NaN or infinite intensities: cannot integrate")
    member = np.zeros((x.size, len(REGION_EDGES_PPM) + 1))
    member[np.arange(x.size), np.digitize(x, REGION_EDGES_PPM)] = 1.0
    parts = np.clip(y, 0.0, None) @ member
    total = parts.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise MspectmolError("1H spectrum has no positive intensity: cannot integrate")
    return parts / total


def fit_profiles(type_counts: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Each proton type's mean share per region, ``(T, 4)``, by non-negative least squares.

    ``type_counts`` ``(n, T)`` from :func:`proton_types_many` and ``fractions`` ``(n, 4)``
    from :func:`region_integrals` of the same molecules: per region, protons observed
    (fraction x total protons) ~ type counts @ profile column, with the profile >= 0. Types
    that no molecule has get zero rows.
    """
    counts = np.asarray(type_counts, dtype=np.float64)
    frac = np.asarray(fractions, dtype=np.float64)
    if counts.ndim != 2 or frac.ndim != 2 or counts.shape[0] != frac.shape[0]:
        raise MspectmolError(f"type counts {counts.shape} and fractions {frac.shape} do not "
                             "pair up molecule by molecule")
    observed = frac * counts.sum(axis=1, keepdims=True)
    return np.stack([nnls(counts, observed[:, r])[0] for r in range(frac.shape[1])], axis=1)


def predicted_fractions(type_counts: np.ndarray, profiles: np.ndarray) -> np.ndarray:
    """Predicted share of the 1H integral per region, ``(n, 4)``; rows sum to 1 (a structure
    without protons gets zeros)."""
    pred = np.asarray(type_counts, dtype=np.float64).reshape(-1, profiles.shape[0]) @ profiles
    total = pred.sum(axis=1, keepdims=True)
    return np.divide(pred, total, out=np.zeros_like(pred), where=total > 0)


def proton_mismatch(type_counts: np.ndarray, observed: np.ndarray,
                    profiles: np.ndarray | None = None) -> np.ndarray:
    """L1 distance, in protons, between each candidate's predicted and the observed region
    shares (both scaled by the candidate's proton count), shape ``(n,)``.

    ``observed`` is :func:`region_integrals` of the observed spectrum, ``(4,)``; ``profiles``
    defaults to the packaged fit (:func:`load_profiles`).
    """
    o = np.asarray(observed, dtype=np.float64)
    if o.shape != (len(REGION_EDGES_PPM) + 1,):
        raise MspectmolError(f"observed 1H region shares must have shape "
                             f"({len(REGION_EDGES_PPM) + 1},), got {o.shape}")
    p = load_profiles() if profiles is None else np.asarray(profiles, dtype=np.float64)
    counts = np.asarray(type_counts, dtype=np.float64).reshape(-1, p.shape[0])
    return np.abs(predicted_fractions(counts, p) - o).sum(axis=1) * counts.sum(axis=1)


@lru_cache(maxsize=1)
def _packaged() -> dict[str, Any]:
    path = resources.files("mspectmol.structure").joinpath(PROFILES_FILE)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MspectmolError(f"{path}: cannot read the packaged 1H proton-type profiles "
                             f"({exc}); reinstall mspectmol") from None
    if meta.get("format") != PROFILES_FORMAT or tuple(meta.get("types", ())) != PROTON_TYPES \
            or tuple(meta.get("region_edges_ppm", ())) != REGION_EDGES_PPM:
        raise MspectmolError(f"{path}: format, proton types or regions do not match this "
                             f"version of mspectmol (expected format {PROFILES_FORMAT})")
    return meta


def load_profiles() -> np.ndarray:
    """The packaged profile matrix ``(T, 4)`` (see ``proton_profiles.json`` for its data)."""
    p = np.asarray(_packaged()["profiles"], dtype=np.float64)
    if p.shape != (len(PROTON_TYPES), len(REGION_EDGES_PPM) + 1) or not np.all(np.isfinite(p)):
        raise MspectmolError(f"{PROFILES_FILE}: profile matrix of shape {p.shape} is invalid")
    return p


#: Training molecules drawn for the packaged fit, and the draw's seed.
FIT_MOLECULES = 3000
FIT_SEED = 0


def fit_from_dataset(n: int = FIT_MOLECULES, seed: int = FIT_SEED) -> dict[str, Any]:
    """Fit the profiles on ``n`` training molecules (scaffold split) of the embedded dataset,
    drawn with ``seed``; returns the content of ``proton_profiles.json``. Molecules with an
    empty 1H spectrum or no protons are skipped."""
    ds = load_dataset(["h_nmr"])
    train = ds.split_indices("scaffold", "train")
    rows = np.sort(np.random.default_rng(seed).choice(train, min(n, train.size), replace=False))
    spectra = np.asarray(ds.spectra["h_nmr"][rows], dtype=np.float64)
    counts = proton_types_many([str(s) for s in ds.smiles[rows]])
    keep = (spectra.max(axis=1) > 0) & (counts.sum(axis=1) > 0)
    fractions = region_integrals(spectra[keep], np.asarray(ds.grids["h_nmr"]))
    profiles = fit_profiles(counts[keep], fractions)
    return {"format": PROFILES_FORMAT, "types": list(PROTON_TYPES),
            "region_edges_ppm": list(REGION_EDGES_PPM),
            "profiles": np.round(profiles, 6).tolist(),
            "protons_per_type": counts[keep].sum(axis=0).tolist(),
            "data": {"dataset_hash": dataset_hash(ds.ids, ds.labels)[:12],
                     "split": "scaffold/train", "molecules": int(keep.sum()),
                     "drawn": int(rows.size), "seed": seed}}


if __name__ == "__main__":  # refit: python -m mspectmol.structure.evidence.proton_count > FILE
    print(json.dumps(fit_from_dataset(), indent=1))
