"""Candidate ranking: which of these structures best explains the observed spectra?

Each candidate gets three terms, combined as a weighted sum (:class:`RankWeights`, chosen
on the validation split by :func:`choose_weights`, never on test):

``ll``
    The decoder's summed log-probability of the candidate's canonical SMILES given the
    spectra (and the formula when known).
``fg``
    Functional-group agreement: the Bernoulli log-likelihood of the candidate's RDKit
    functional-group labels under the PA-IB model's predicted probabilities,
    ``sum_g y_g log p_g + (1 - y_g) log(1 - p_g)`` (p clipped to [1e-4, 1 - 1e-4]).
``spec``
    Minus the spectral distance: ``-(1 - cosine similarity)`` between the observed and the
    candidate's simulated spectrum on the model grid, averaged over the given modalities.
    Library molecules use the embedded dataset's simulated spectra; other candidates are
    simulated with mspectmol's GFN2-xTB + CSP5 simulator on demand and cached
    (:class:`SimulatedSpectra`). When some candidate has no simulated spectra (simulation
    off or failed), the term is dropped for every candidate, so all are scored alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError

log = logging.getLogger("mspectmol.structure")

TERMS = ("ll", "fg", "spec")


@dataclass(frozen=True)
class RankWeights:
    """Weights of the ranking terms (see the module docstring)."""

    ll: float = 1.0
    fg: float = 1.0
    spec: float = 10.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def fg_agreement(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Bernoulli log-likelihood of each label row ``(n, G)`` under ``probabilities (G,)``."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-4, 1 - 1e-4)
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != p.size:
        raise MspectmolError(f"labels of shape {y.shape} do not match {p.size} probabilities")
    return y @ np.log(p) + (1 - y) @ np.log1p(-p)


def spectral_distance(observed: Mapping[str, np.ndarray], simulated: Mapping[str, np.ndarray]
                      ) -> float:
    """Mean over the observed modalities of ``1 - cosine(observed, simulated)``."""
    dists = []
    for m, y in observed.items():
        a = np.asarray(y, dtype=np.float64)
        b = np.asarray(simulated[m], dtype=np.float64)
        if a.shape != b.shape:
            raise MspectmolError(f"{m}: observed ({a.shape}) and simulated ({b.shape}) "
                                 "spectra differ in length")
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        dists.append(1.0 if na == 0 or nb == 0 else 1.0 - float(a @ b) / (na * nb))
    if not dists:
        raise MspectmolError("no observed spectrum to compare with")
    return float(np.mean(dists))


def combine(terms: Mapping[str, np.ndarray], weights: RankWeights) -> np.ndarray:
    """Weighted sum of the available terms (a missing or None term counts 0)."""
    total = None
    for name in TERMS:
        value = terms.get(name)
        if value is None:
            continue
        part = getattr(weights, name) * np.asarray(value, dtype=np.float64)
        total = part if total is None else total + part
    if total is None:
        raise MspectmolError("no ranking term available")
    return total


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Indices by decreasing score (stable)."""
    return np.argsort(-np.asarray(scores), kind="stable")


def choose_weights(cases: Sequence[tuple[Mapping[str, np.ndarray], int]],
                   grid: Mapping[str, Sequence[float]] | None = None
                   ) -> tuple[RankWeights, dict[str, float]]:
    """Grid-search the weights that put the true candidate first most often.

    Parameters
    ----------
    cases
        ``(terms, true_index)`` per validation molecule, ``terms`` as for :func:`combine`.
    grid
        Candidate values per term (defaults cover several orders of magnitude).

    Returns
    -------
    RankWeights, dict
        The best weights (ties: higher mean reciprocal rank) and their top-1 and MRR.
    """
    grid = grid or {"ll": (0.0, 0.1, 0.3, 1.0), "fg": (0.0, 0.3, 1.0, 3.0),
                    "spec": (0.0, 3.0, 10.0, 30.0, 100.0)}
    if not cases:
        raise MspectmolError("no validation cases to choose ranking weights on")
    best, best_key = RankWeights(), (-1.0, -1.0)
    for w_ll in grid["ll"]:
        for w_fg in grid["fg"]:
            for w_spec in grid["spec"]:
                if w_ll == w_fg == w_spec == 0:
                    continue
                w = RankWeights(w_ll, w_fg, w_spec)
                ranks = []
                for terms, true in cases:
                    s = combine(terms, w)
                    ranks.append(int(np.sum(s > s[true])))
                r = np.asarray(ranks)
                key = (float(np.mean(r == 0)), float(np.mean(1.0 / (r + 1))))
                if key > best_key:
                    best, best_key = w, key
    return best, {"top1": best_key[0], "mrr": best_key[1]}


# -- simulated spectra of candidates ---------------------------------------------------------

def cache_dir() -> Path:
    """Where simulated candidate spectra are cached: ``$MSPECTMOL_CACHE`` or
    ``$XDG_CACHE_HOME/mspectmol`` (``~/.cache/mspectmol``), then ``simulated/``."""
    root = os.environ.get("MSPECTMOL_CACHE")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mspectmol")
    return Path(root) / "simulated"


def record_spectra(record: Any, grids: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Broaden a :class:`~mspectmol.data.simulator.records.SimulationRecord`'s peak lists onto
    ``grids`` exactly as the embedded dataset does (max-normalised float32)."""
    from mspectmol.data.dataset import BROADENING, broaden_many

    peaks = {"ir": (record.frequencies, record.ir_intensities),
             "raman": (record.frequencies, record.raman_activities),
             "h_nmr": tuple(np.asarray(v, dtype=float) for v in
                            zip(*(record.h_shifts or []), strict=True)) or ([], []),
             "c_nmr": tuple(np.asarray(v, dtype=float) for v in
                            zip(*(record.c_shifts or []), strict=True)) or ([], [])}
    out = {}
    for m, grid in grids.items():
        if m not in BROADENING:
            raise MspectmolError(f"cannot simulate {m} spectra")
        pos, amp = (np.asarray(v, dtype=float) for v in peaks[m])
        keep = pos > 0 if m in ("ir", "raman") else np.ones(pos.size, dtype=bool)
        shape, fwhm = BROADENING[m]
        step = float(grid[1] - grid[0])
        y = broaden_many(pos[keep], amp[keep], np.zeros(int(keep.sum()), dtype=np.int64), 1,
                         np.asarray(grid), max(fwhm, 2 * step), shape)[0]
        top = y.max()
        out[m] = (y / top if top > 0 else y).astype(np.float32)
    return out


class SimulatedSpectra:
    """Simulated spectra of candidates: the library's, else the simulator's (cached).

    Parameters
    ----------
    grids
        Modality -> grid of the observed spectra.
    library
        Canonical (no-stereo) SMILES -> ``{modality: spectrum}`` of known molecules.
    simulate
        Run the simulator for molecules outside the library (slow: seconds per molecule).
    simulator
        ``smiles -> SimulationRecord`` (default :func:`simulate_molecule`); for tests.
    """

    def __init__(self, grids: Mapping[str, np.ndarray],
                 library: Mapping[str, Mapping[str, np.ndarray]] | None = None, *,
                 simulate: bool = True, directory: Path | None = None,
                 simulator: Callable[[str], Any] | None = None) -> None:
        self.grids = {m: np.asarray(g) for m, g in grids.items()}
        self.library = library or {}
        self.simulate = simulate
        self.directory = directory or cache_dir()
        self.simulator = simulator

    def _cache_file(self, smiles: str) -> Path:
        from mspectmol.structure.metrics import inchikey_block

        key = inchikey_block(smiles) or "invalid"
        grid_tag = "_".join(f"{m}{g.size}" for m, g in sorted(self.grids.items()))
        return self.directory / f"{key}_{grid_tag}.npz"

    def get(self, smiles: str) -> dict[str, np.ndarray] | None:
        """Spectra of one candidate, or None when not in the library and not simulated."""
        if smiles in self.library:
            return {m: np.asarray(self.library[smiles][m]) for m in self.grids}
        if not self.simulate:
            return None
        path = self._cache_file(smiles)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as f:
                    return {m: f[m] for m in self.grids}
            except (OSError, KeyError, ValueError):
                log.warning("%s: unreadable cache entry, simulating again", path)
        simulator = self.simulator
        if simulator is None:
            from mspectmol.data.simulator.pipeline import simulate_molecule as simulator
        log.info("simulating spectra of %s (GFN2-xTB + CSP5)", smiles)
        try:
            spectra = record_spectra(simulator(smiles), self.grids)
        except MspectmolError as exc:
            log.warning("no simulated spectra for %s: %s", smiles, exc)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, **spectra)
        os.replace(tmp, path)
        return spectra
