"""Simulated spectra of candidate structures: the library's, else the simulator's, cached on disk.

The ranking's ``spec`` term (:mod:`~mspectmol.structure.ranking.scores`) compares the
observed spectra with these.

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

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.data.dataset import BROADENING, broaden_many
from mspectmol.data.simulator import geometry, nmr, pipeline
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_path, atomic_write, remove_stale_temps
from mspectmol.structure.cache import cache_dir
from mspectmol.structure.metrics import inchikey_block
from mspectmol.structure.ranking.sim_pool import SimulationPool, picklable, progress_bar

log = logging.getLogger("mspectmol.structure")

#: Record attribute holding each modality's peaks (IR/Raman also read ``frequencies``).
PEAK_FIELDS = {"ir": "ir_intensities", "raman": "raman_activities", "h_nmr": "h_shifts",
               "c_nmr": "c_shifts"}
#: Modalities of the fast NMR simulation.
FAST_MODALITIES = ("h_nmr", "c_nmr")
#: Bumped when the fast NMR recipe changes; part of its cache file names.
FAST_RECIPE = 1


def record_spectra(record: Any, grids: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Broaden a :class:`~mspectmol.data.simulator.records.SimulationRecord`'s peak lists onto
    ``grids`` exactly as the embedded dataset does (max-normalised float32)."""
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
        (:mod:`~mspectmol.structure.ranking.sim_pool`); 1 = in this process, one after another.

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
        self._progress: str | None = None
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
        key = inchikey_block(smiles) or "invalid"
        grid_tag = "_".join(f"{m}{g.size}" for m, g in sorted(self.grids.items()))
        recipe = f"nmrfast{FAST_RECIPE}_" if self.fast_nmr else ""
        return self.directory / f"{key}_{recipe}{grid_tag}.npz"

    @contextlib.contextmanager
    def reporting(self, name: str | None) -> Iterator[SimulatedSpectra]:
        """Inside the block, :meth:`get_many` shows a progress bar called ``name`` (None:
        none) with the remaining time on stderr while it simulates."""
        previous, self._progress = self._progress, name
        try:
            yield self
        finally:
            self._progress = previous

    def get_many(self, smiles: Sequence[str]) -> list[dict[str, np.ndarray] | None]:
        """:meth:`get` of each candidate, the uncached ones first simulated in ``jobs``
        worker processes when ``jobs > 1`` (same results, same cache)."""
        if self.jobs > 1 and self.simulate:
            self._prefetch(list(dict.fromkeys(smiles)))
        if not (self._progress and self.jobs == 1 and self.simulate):
            return [self.get(s) for s in smiles]
        with progress_bar(self._progress, len(smiles)) as bar:
            out = []
            for s in smiles:
                out.append(self.get(s))
                bar.update(1)
        return out

    def _prefetch(self, smiles: list[str]) -> None:
        todo = []
        for s in smiles:
            path = self._cache_file(s)
            if s in self.library or path.is_file() or (
                    self.remember_failures and path.with_suffix(".failed").is_file()):
                continue
            todo.append(s)
        if len(todo) < 2 or not picklable(self.simulator):
            return
        if self._pool is None:
            self._pool = SimulationPool(self.jobs)
        log.info("simulating %d candidates in %d processes", len(todo), self.jobs)
        grids = {m: np.asarray(g) for m, g in self.grids.items()}
        results = self._pool.run(simulate_to_cache, [
            (smiles, grids, str(self.directory), self.fast_nmr, self.remember_failures,
             self.simulator) for smiles in todo], progress=self._progress)
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
            simulator = pipeline.simulate_molecule
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


def simulate_to_cache(smiles: str, grids: Mapping[str, np.ndarray], directory: str,
                      fast_nmr: bool, remember_failures: bool,
                      simulator: Callable[[str], Any] | None) -> tuple[bool, float]:
    """Simulate one candidate into the cache under ``directory`` (a worker process's task:
    the owner's :meth:`SimulatedSpectra.get`, in this process); returns whether it succeeded
    and the seconds it took."""
    sim = SimulatedSpectra(grids, directory=Path(directory), simulator=simulator,
                           fast_nmr=fast_nmr, remember_failures=remember_failures)
    return sim.get(smiles) is not None, float(sim.stats["seconds"])
