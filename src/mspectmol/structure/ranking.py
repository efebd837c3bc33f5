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
    off or failed), the term is dropped for every candidate, so all are scored alike
    (re-ranking of generated candidates instead counts a failed simulation as the largest
    distance, 1).
``gen``
    For candidates drawn by the evidence-conditioned structure generator
    (:mod:`~mspectmol.structure.denovo`): ``log(1 + draws)``, how often the generator drew the
    structure given the evidence (0 for a candidate it never drew, e.g. the user's). Left out
    (weight 0, and absent from other candidate sources) unless the ranking is given the
    draw counts.

A second stage (:mod:`~mspectmol.structure.refine`) can re-rank the best candidates with a
fifth term, ``full``: the spectral match of their full-recipe simulation.

Fast NMR simulation (``SimulatedSpectra(..., fast_nmr=True)``, :func:`simulate_nmr_fast`)
    Only the 1H and 13C NMR spectra, from CSP5 on the lowest-energy RDKit ETKDG + MMFF
    conformer (the simulator's own conformer search, its default settings), about 0.1 s per
    QM9-size molecule on one thread instead of about 1 s for the full recipe. It leaves out
    the GFN2-xTB geometry optimisation (CSP5 sees the MMFF geometry, so its shifts differ
    slightly from the dataset's, which were predicted at the GFN2-xTB optimum) and the
    Hessian, hence IR and Raman: the ``spec`` term then compares the NMR modalities only.
    Fast results are cached under their own file names and never read as full ones (nor
    the other way round); library spectra (full recipe) are not mixed in.
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
from mspectmol.fileio import atomic_path, atomic_write, remove_stale_temps
from mspectmol.structure.spectral_match import spectral_distance  # noqa: F401 (re-exported)

log = logging.getLogger("mspectmol.structure")

TERMS = ("ll", "fg", "spec", "gen")
#: Record attribute holding each modality's peaks (IR/Raman also read ``frequencies``).
PEAK_FIELDS = {"ir": "ir_intensities", "raman": "raman_activities", "h_nmr": "h_shifts",
               "c_nmr": "c_shifts"}
#: Modalities of the fast NMR simulation.
FAST_MODALITIES = ("h_nmr", "c_nmr")
#: Bumped when the fast NMR recipe changes; part of its cache file names.
FAST_RECIPE = 1


@dataclass(frozen=True)
class RankWeights:
    """Weights of the ranking terms (see the module docstring)."""

    ll: float = 1.0
    fg: float = 1.0
    spec: float = 10.0
    gen: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def fg_agreement(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Bernoulli log-likelihood of each label row ``(n, G)`` under ``probabilities (G,)``."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-4, 1 - 1e-4)
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != p.size:
        raise MspectmolError(f"labels of shape {y.shape} do not match {p.size} probabilities")
    return y @ np.log(p) + (1 - y) @ np.log1p(-p)


def combine(terms: Mapping[str, np.ndarray], weights: RankWeights) -> np.ndarray:
    """Weighted sum of the available terms (a missing or None term, or one of weight 0,
    counts 0)."""
    total = None
    for name in TERMS:
        value = terms.get(name)
        if value is None or (name == "gen" and weights.gen == 0):
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

    def peaks(m: str) -> tuple[Any, Any]:  # only the requested modalities are read
        if m in ("ir", "raman"):
            return record.frequencies, getattr(record, PEAK_FIELDS[m])
        lines = getattr(record, PEAK_FIELDS[m]) or []
        return tuple(np.asarray(v, dtype=float) for v in zip(*lines, strict=True)) or ([], [])

    out = {}
    for m, grid in grids.items():
        if m not in BROADENING or m not in PEAK_FIELDS:
            raise MspectmolError(f"cannot simulate {m} spectra")
        pos, amp = (np.asarray(v, dtype=float) for v in peaks(m))
        keep = pos > 0 if m in ("ir", "raman") else np.ones(pos.size, dtype=bool)
        shape, fwhm = BROADENING[m]
        step = float(grid[1] - grid[0])
        y = broaden_many(pos[keep], amp[keep], np.zeros(int(keep.sum()), dtype=np.int64), 1,
                         np.asarray(grid), max(fwhm, 2 * step), shape)[0]
        top = y.max()
        out[m] = (y / top if top > 0 else y).astype(np.float32)
    return out


@dataclass(frozen=True)
class NMRRecord:
    """Peak lists of the fast NMR simulation: ``[(shift_ppm, n_atoms)]`` per nucleus (None
    when CSP5 failed for that nucleus, as in the full simulator's records)."""

    h_shifts: list[tuple[float, int]] | None
    c_shifts: list[tuple[float, int]] | None


def simulate_nmr_fast(smiles: str, settings: Any = None) -> NMRRecord:
    """1H and 13C NMR peak lists from CSP5 on the lowest-energy ETKDG + MMFF conformer.

    The conformer search and the CSP5 step are the full simulator's
    (:func:`~mspectmol.data.simulator.pipeline.simulate_molecule`, same settings); only the
    GFN2-xTB re-ranking, optimisation and Hessian are skipped (see the module docstring).

    Raises
    ------
    SimulationError
        Stage ``parse`` or ``conformers`` (a failed nucleus gives None, not an error).
    """
    from mspectmol.data.simulator import geometry, nmr
    from mspectmol.data.simulator.errors import SimulationError
    from mspectmol.data.simulator.settings import SimulationSettings

    settings = settings or SimulationSettings()
    mol = geometry.parse_smiles(smiles)
    positions = geometry.embed_conformers(mol, settings.n_conformers, settings.seed,
                                          settings.chirality_check)[0]
    shifts: dict[str, list[tuple[float, int]] | None] = {}
    for nucleus in nmr.NUCLEI:
        try:
            shifts[nucleus] = nmr.nmr_peaks(mol, positions, nucleus)
        except SimulationError as exc:
            log.warning("%s: no %s NMR (%s)", smiles, nucleus, exc.reason)
            shifts[nucleus] = None
    return NMRRecord(h_shifts=shifts["1H"], c_shifts=shifts["13C"])


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
        ``smiles -> record`` (default :func:`simulate_molecule`, or :func:`simulate_nmr_fast`
        with ``fast_nmr``); for tests.
    fast_nmr
        Simulate only the 1H and 13C NMR spectra (:func:`simulate_nmr_fast`; see the module
        docstring for what it leaves out): :attr:`modalities` are then the NMR ones of
        ``grids``, and no library may be given (its spectra come from the full recipe).
    remember_failures
        Cache failed simulations too (a ``.failed`` file holding the reason, beside where the
        spectra would be), so a molecule that failed once, in this run or an earlier one,
        is not simulated again (a failed ETKDG embedding costs seconds; the recipe is
        seeded, so it fails again).
    jobs
        Worker processes :meth:`get_many` simulates uncached candidates in
        (:mod:`~mspectmol.structure.sim_pool`); 1 = in this process, one after another.

    Attributes
    ----------
    stats
        Counts of ``library``, ``cached``, ``simulated`` and ``failed`` look-ups, and the
        ``seconds`` spent simulating.
    """

    def __init__(self, grids: Mapping[str, np.ndarray],
                 library: Mapping[str, Mapping[str, np.ndarray]] | None = None, *,
                 simulate: bool = True, directory: Path | None = None,
                 simulator: Callable[[str], Any] | None = None,
                 fast_nmr: bool = False, remember_failures: bool = False,
                 jobs: int = 1) -> None:
        if int(jobs) < 1:
            raise MspectmolError(f"jobs must be >= 1, got {jobs}")
        self.jobs = int(jobs)
        self._pool: Any = None
        self._fresh: set[str] = set()
        self.fast_nmr = bool(fast_nmr)
        self.remember_failures = bool(remember_failures)
        if self.fast_nmr:
            if library:
                raise MspectmolError("fast NMR simulation cannot use library spectra (they "
                                     "come from the full GFN2-xTB recipe): pass no library")
            grids = {m: g for m, g in grids.items() if m in FAST_MODALITIES}
            if not grids:
                raise MspectmolError("fast NMR simulation needs an h_nmr or c_nmr grid")
        self.grids = {m: np.asarray(g) for m, g in grids.items()}
        self.library = library or {}
        self.simulate = simulate
        self.directory = directory or cache_dir()
        remove_stale_temps(self.directory)  # left by killed runs
        self.simulator = simulator
        self.stats: dict[str, float] = {"library": 0, "cached": 0, "simulated": 0, "failed": 0,
                                        "seconds": 0.0}

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this source provides (sorted)."""
        return tuple(sorted(self.grids))

    def _cache_file(self, smiles: str) -> Path:
        from mspectmol.structure.metrics import inchikey_block

        key = inchikey_block(smiles) or "invalid"
        grid_tag = "_".join(f"{m}{g.size}" for m, g in sorted(self.grids.items()))
        recipe = f"nmrfast{FAST_RECIPE}_" if self.fast_nmr else ""
        return self.directory / f"{key}_{recipe}{grid_tag}.npz"

    def get_many(self, smiles: Sequence[str]) -> list[dict[str, np.ndarray] | None]:
        """:meth:`get` of each candidate, the uncached ones first simulated in ``jobs``
        worker processes when ``jobs > 1`` (same results, same cache)."""
        if self.jobs > 1 and self.simulate:
            self._prefetch(list(dict.fromkeys(smiles)))
        return [self.get(s) for s in smiles]

    def _prefetch(self, smiles: list[str]) -> None:
        from mspectmol.structure import sim_pool

        todo = []
        for s in smiles:
            path = self._cache_file(s)
            if s in self.library or path.is_file() or (
                    self.remember_failures and path.with_suffix(".failed").is_file()):
                continue
            todo.append(s)
        if len(todo) < 2 or not sim_pool.picklable(self.simulator):
            return
        if self._pool is None:
            self._pool = sim_pool.SimulationPool(self.jobs)
        log.info("simulating %d candidates in %d processes", len(todo), self.jobs)
        results = self._pool.run(todo, self.grids, self.directory, self.fast_nmr,
                                 self.remember_failures, self.simulator)
        for ok, seconds in results:  # failures are counted when get() meets them
            self.stats["seconds"] += seconds
            self.stats["simulated"] += ok
        self._fresh.update(s for s, (ok, _) in zip(todo, results, strict=True) if ok)

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def get(self, smiles: str) -> dict[str, np.ndarray] | None:
        """Spectra of one candidate, or None when not in the library and not simulated."""
        import time

        if smiles in self.library:
            self.stats["library"] += 1
            return {m: np.asarray(self.library[smiles][m]) for m in self.grids}
        if not self.simulate:
            return None
        path = self._cache_file(smiles)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as f:
                    out = {m: f[m] for m in self.grids}
                if smiles in self._fresh:  # simulated by a worker just now, counted there
                    self._fresh.discard(smiles)
                else:
                    self.stats["cached"] += 1
                return out
            except (OSError, KeyError, ValueError):
                log.warning("%s: unreadable cache entry, simulating again", path)
        marker = path.with_suffix(".failed")
        if self.remember_failures and marker.is_file():
            self.stats["failed"] += 1
            return None
        simulator = self.simulator
        if simulator is None and self.fast_nmr:
            simulator = simulate_nmr_fast
        elif simulator is None:
            from mspectmol.data.simulator.pipeline import simulate_molecule as simulator
        log.info("simulating spectra of %s (%s)", smiles,
                 "ETKDG + MMFF + CSP5, NMR only" if self.fast_nmr else "GFN2-xTB + CSP5")
        started = time.perf_counter()
        try:
            spectra = record_spectra(simulator(smiles), self.grids)
        except MspectmolError as exc:
            log.warning("no simulated spectra for %s: %s", smiles, exc)
            self.stats["failed"] += 1
            if self.remember_failures:
                atomic_write(marker, f"{smiles}\t{exc}\n", sync=False,
                             what="cannot write the cache")
            return None
        finally:
            self.stats["seconds"] += time.perf_counter() - started
        self.stats["simulated"] += 1
        # a temporary name of its own: other processes (workers, other runs) may write it too
        with atomic_path(path, suffix=".npz", sync=False, what="cannot write the cache") as tmp:
            np.savez(tmp, **spectra)
        return spectra
