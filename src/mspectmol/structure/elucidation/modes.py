"""The elucidation modes' steps (:mod:`~mspectmol.structure.elucidation.options`), run by
:meth:`~mspectmol.structure.elucidation.service.ElucidationService.run`.

Each mode turns the observation into ranked candidates: beam search (``denovo``); beam search,
simulation and re-ranking (``rerank``); ranking of given and embedded-library candidates
(``rank``); the pre-filtered candidate pool of QM9 isomers (``qm9``) or of the generator's
draws (``generate``), ranked with the fast NMR simulation and, for the best, the full one
(:mod:`~mspectmol.structure.ranking.refine`). Settings left None take the mode's default
here; warnings are logged and kept in the result.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.structure.elucidation.elucidator import Elucidator, RankedCandidate
from mspectmol.structure.elucidation.mass import MS_WEIGHT, MassEvidence, ms_terms
from mspectmol.structure.elucidation.options import (
    ElucidationOptions,
    ElucidationResult,
    Observation,
)
from mspectmol.structure.generation.generator import DEFAULT_TEMPERATURE, generated_index
from mspectmol.structure.generation.sampling import Sampled
from mspectmol.structure.libraries.embedded import library_spectra
from mspectmol.structure.libraries.qm9 import IsomerIndex
from mspectmol.structure.model.domain import ModelDomain
from mspectmol.structure.model.tokens import same_formula, smiles_formula
from mspectmol.structure.ranking import refine
from mspectmol.structure.ranking.prefilter import (
    C13_WEIGHT,
    DEFAULT_PREFILTER,
    DRAWN_WEIGHT,
    FAST_NMR_SMOOTH,
    FAST_NMR_WEIGHTS,
    GENERATED_WEIGHTS,
    H1_WEIGHT,
    rank_isomers,
)
from mspectmol.structure.ranking.scores import RankWeights, explain
from mspectmol.structure.ranking.simulation import SimulatedSpectra

log = logging.getLogger("mspectmol.structure")


class Models(Protocol):
    """What the modes read from the service
    (:class:`~mspectmol.structure.elucidation.service.ElucidationService`)."""

    elucidator: Elucidator
    model_path: Path | None
    generator_path: Path | None

    @property
    def modalities(self) -> tuple[str, ...]: ...

    def qm9_index(self) -> IsomerIndex: ...

    def simulator(self, kind: str, grids: Mapping[str, np.ndarray], jobs: int
                  ) -> SimulatedSpectra: ...

    def domain(self, generator: bool = False, path: Path | None = None) -> ModelDomain: ...

    def draw(self, observation: Observation, formula: str, n: int, *, temperature: float,
             seed: int = 0, generator: Path | None = None) -> Sampled: ...


@dataclasses.dataclass
class _Run:
    """One run's inputs, resolved settings and record."""

    service: Models
    options: ElucidationOptions
    obs: Observation
    weights: RankWeights | None
    smooth: float | None
    result: ElucidationResult

    @property
    def mods(self) -> tuple[str, ...]:
        return self.service.modalities

    @property
    def given(self) -> dict[str, np.ndarray]:
        return self.obs.given(self.mods)

    def warn(self, message: str) -> None:
        log.warning("%s", message)
        self.result.warnings.append(message)

    def progress(self, name: str) -> str | None:
        """``name`` for a progress bar when the options ask for one, else None."""
        return name if self.options.progress else None


def _weights(options: ElucidationOptions, training: dict[str, Any]) -> RankWeights | None:
    if options.mode == "denovo":
        return None
    if options.weights is not None:
        return options.weights
    return {"generate": GENERATED_WEIGHTS, "qm9": FAST_NMR_WEIGHTS}.get(
        options.mode, RankWeights(**training.get("ranking_weights", {})))


def _check_spectra(options: ElucidationOptions, obs: Observation,
                   mods: tuple[str, ...]) -> None:
    nmr = any(a for m, a in zip(mods, obs.available, strict=True) if m != "ir")
    if nmr:
        return
    if options.mode in ("qm9", "generate"):
        raise MspectmolError(f"the {options.mode} mode ranks by simulated NMR (fast recipe): "
                             "give a 1H and/or 13C NMR spectrum")
    if options.fast_nmr:
        raise MspectmolError("the fast NMR recipe compares simulated NMR spectra only: give a "
                             "1H and/or 13C NMR spectrum (or simulate IR too)")


def _out_of_domain(run: _Run) -> list[str] | None:
    """Why the formula lies outside the training domain of the model that proposes the
    candidates (the generator, else the decoder) or scores them (the decoder, when its
    likelihood is weighted); None without a formula."""
    o = run.options
    if o.formula is None:
        return None
    if o.mode == "generate":
        role, domain = "structure generator", run.service.domain(True, o.generator)
    elif o.mode in ("denovo", "rerank") or (run.weights is not None and run.weights.ll):
        role, domain = "structure decoder", run.service.domain()
    else:
        return []
    reasons = domain.outside(o.formula)
    if not reasons:
        return []
    return [f"{o.formula} is outside what the {role} was trained on ({domain.describe()}): "
            f"it has {' and '.join(reasons)}; expect wrong structures"]


def run(service: Models, options: ElucidationOptions, obs: Observation,
        ms: MassEvidence | None = None) -> ElucidationResult:
    """Run the options' mode on an observation (see the module docstring); with a mass
    spectrum, every ranked candidate gets the MS/MS term and the ranking is redone with it."""
    mods = service.modalities
    _check_spectra(options, obs, mods)
    weights = _weights(options, service.elucidator.meta.training)
    qm9 = options.mode in ("qm9", "generate")
    smooth = None if options.mode == "denovo" else (
        options.spec_smooth if options.spec_smooth is not None
        else FAST_NMR_SMOOTH if qm9 else 0.0)
    result = ElucidationResult(
        options.mode, options.label, options.formula,
        [m for m, a in zip(mods, obs.available, strict=True) if a], service.model_path, [],
        weights=weights, spec_smooth=smooth)
    state = _Run(service, options, obs, weights, smooth, result)
    result.out_of_domain = _out_of_domain(state)
    started = time.perf_counter()
    try:
        ranked = _MODES[options.mode](state)
    except MspectmolError as exc:
        if result.out_of_domain:
            raise MspectmolError(f"{exc}; {result.out_of_domain[0]}") from exc
        raise
    result.timings["candidates"] = time.perf_counter() - started
    ms_weight = None
    if ms is not None and ranked:
        ms_weight = MS_WEIGHT if options.ms_weight is None else options.ms_weight
        started = time.perf_counter()
        terms = ms_terms(ms, [r.smiles for r in ranked])
        ranked = sorted((dataclasses.replace(r, ms=float(t), score=r.score + ms_weight * t)
                         for r, t in zip(ranked, terms, strict=True)), key=lambda r: -r.score)
        result.timings["ms"] = time.perf_counter() - started
    refined = result.library and "refine" in result.library
    full_weight = refine.WEIGHT if refined else None
    shown = ranked if options.k is None else ranked[:options.k]
    result.candidates = [dataclasses.replace(r, explanation=explain(
        {"ll": r.ll, "fg": r.fg, "spec": r.spec, "gen": r.gen, "lines": r.lines,
         "full": r.full, "full_lines": r.full_lines, "ms": r.ms},
        weights or RankWeights(1.0, 0.0, 0.0), full_weight, ms_weight,
        refine.LINES_WEIGHT if refined else None)) for r in shown]
    return result


def _denovo(run: _Run) -> list[RankedCandidate]:
    o, obs, eluc = run.options, run.obs, run.service.elucidator
    k = int(o.k or 0)
    width = o.beam_width or (2 * k if o.formula else k)
    res = eluc.generate(np.asarray(obs.features)[None], np.asarray(obs.available)[None],
                        [o.formula], k=k, beam_width=width)[0]
    if not res.smiles:
        of = f" of formula {o.formula}" if o.formula else ""
        raise MspectmolError(f"no valid structure{of} among {res.n_hypotheses} beam "
                             "hypotheses; try a larger beam width")
    return [RankedCandidate(s, sc, sc, None, None, "generated")
            for s, sc in zip(res.smiles, res.scores, strict=True)]


def _rerank(run: _Run) -> list[RankedCandidate]:
    o, obs = run.options, run.obs
    sim = SimulatedSpectra(obs.grids, fast_nmr=o.fast_nmr, jobs=o.jobs)
    try:
        with sim.reporting(run.progress("simulating candidates")):
            ranked = run.service.elucidator.generate_and_rank(
                obs.spectra, obs.available, o.formula, int(o.n_generated or 0), sim,
                weights=run.weights, beam_width=o.beam_width,
                smooth=float(run.smooth or 0.0), features=obs.features,
                probabilities=obs.probabilities)
    finally:
        sim.close()
    if sim.stats["failed"]:
        run.warn(f"{sim.stats['failed']} of {len(ranked)} generated structures could not be "
                 "simulated: they count as the worst spectral match")
    return ranked


def _of_formula(run: _Run) -> list[tuple[str, str]]:
    """The given candidates, those of another formula dropped (with a warning)."""
    formula, out = run.options.formula, []
    for smiles, name in run.options.candidates:
        if formula is not None and not same_formula(smiles_formula(smiles) or "", formula):
            run.warn(f"dropping candidate {name} ({smiles}): its formula "
                     f"{smiles_formula(smiles)} is not {formula}")
            continue
        out.append((smiles, name))
    return out


def _rank(run: _Run) -> list[RankedCandidate]:
    o, obs = run.options, run.obs
    cands = _of_formula(run)
    if o.candidates and not cands and not o.embedded_library:
        raise MspectmolError(f"no candidate of formula {o.formula} to rank")
    library, of_formula = ({}, []) if o.fast_nmr else library_spectra(
        o.formula if o.embedded_library else None, [c for c, _ in cands], obs.grids)
    cands += [(c, "library") for c in of_formula]
    if not cands:
        raise MspectmolError(f"the embedded dataset has no molecule of formula {o.formula}")
    sim = SimulatedSpectra(obs.grids, library, simulate=o.simulate, fast_nmr=o.fast_nmr,
                           jobs=o.jobs)
    try:
        with sim.reporting(run.progress("simulating candidates")):
            ranked = run.service.elucidator.rank(
                obs.spectra, obs.available, o.formula, [c for c, _ in cands],
                sources=[s for _, s in cands], simulated=sim, weights=run.weights,
                features=obs.features, probabilities=obs.probabilities,
                smooth=float(run.smooth or 0.0))
    finally:
        sim.close()
    if ranked[0].spec is None:
        run.warn("spectral term left out: some candidates have no simulated spectra")
    return ranked


def _stats(sim: SimulatedSpectra, before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in sim.stats.items()}


def _pool(run: _Run, index: Any, source: str, pool: dict[str, Any],
          counts: dict[str, int] | None, where: str) -> list[RankedCandidate]:
    """Pre-filter, fast-NMR ranking and second stage of a candidate pool (QM9 or drawn)."""
    o, obs, service = run.options, run.obs, run.service
    n_keep = DEFAULT_PREFILTER if o.prefilter is None else o.prefilter
    c13 = C13_WEIGHT if o.c13_weight is None else o.c13_weight
    h1 = H1_WEIGHT if o.h1_weight is None else o.h1_weight
    drawn = DRAWN_WEIGHT if o.drawn_weight is None else o.drawn_weight
    sim = service.simulator("fast", obs.grids, o.jobs)
    before = dict(sim.stats)
    with sim.reporting(run.progress("fast NMR")):
        ranked, kept = rank_isomers(
            service.elucidator, obs.spectra, obs.available, str(o.formula), index=index,
            simulated=sim, n_keep=n_keep, weights=run.weights, smooth=run.smooth,
            extra=_of_formula(run), features=obs.features, probabilities=obs.probabilities,
            c13_weight=c13, h1_weight=h1, source=source, draw_counts=counts,
            drawn_weight=drawn)
    stats = _stats(sim, before)
    result = run.result
    result.first_stage, result.kept = list(ranked), list(kept.smiles)
    result.library = {"library": source, **pool, "isomers": kept.n_before, "prefilter": n_keep,
                      "c13_weight": c13, "h1_weight": h1,
                      **({"drawn_weight": drawn} if counts is not None else {}),
                      "kept": len(kept.smiles),
                      "simulation": stats}
    given = run.given
    terms = ["functional groups"] + ["13C lines"] * ("c_nmr" in given and c13 > 0) \
        + ["1H integrals"] * ("h_nmr" in given and h1 > 0) \
        + ["draw counts"] * (counts is not None and drawn > 0)
    result.notes.append(
        f"{where} of formula {o.formula}, {len(kept.smiles)} kept by agreement with the "
        f"{', '.join(terms)} and simulated ({stats['simulated']} new, {stats['cached']} "
        f"cached, {stats['failed']} failed)")
    k = (refine.K if o.mode == "generate" else 0) if o.refine is None else o.refine
    if not (k and ranked):
        return ranked
    started = time.perf_counter()
    shift = refine.MAX_SHIFT if o.refine_shift is None else o.refine_shift
    full = service.simulator("full", obs.grids, o.jobs)
    before = dict(full.stats)
    with full.reporting(run.progress("GFN2-xTB + CSP5")):
        ranked = refine.refine(ranked, given, full, k=k, max_shift=shift)
    stats = _stats(full, before)
    result.library["refine"] = {"k": k, "weight": refine.WEIGHT, "smooth": refine.SMOOTH,
                                "max_shift": shift, "lines_weight": refine.LINES_WEIGHT,
                                "simulation": stats}
    result.notes.append(
        f"best {min(k, len(ranked))} re-ranked by their full GFN2-xTB + CSP5 simulation "
        f"({stats['simulated']} new, {stats['cached']} cached, {stats['failed']} failed)")
    result.timings["refine"] = time.perf_counter() - started
    return ranked


def _qm9(run: _Run) -> list[RankedCandidate]:
    index = run.service.qm9_index()
    n = len(index.isomers(str(run.options.formula)))
    return _pool(run, index, "qm9", {"qm9pack": index.meta.get("qm9pack")}, None,
                 f"QM9: {n} isomer(s)")


def _generate(run: _Run) -> list[RankedCandidate]:
    o, service = run.options, run.service
    temperature = DEFAULT_TEMPERATURE if o.temperature is None else o.temperature
    n = int(o.n_generated or 0)
    sampled = o.drawn or service.draw(run.obs, str(o.formula), n, temperature=temperature,
                                      seed=o.seed, generator=o.generator, syntax=o.syntax)
    run.result.sampled = sampled
    index = generated_index(sampled, str(o.formula))
    pool = {"draws": n, "temperature": temperature, "generator": str(service.generator_path),
            "syntax": o.syntax}
    return _pool(run, index, "generated", pool, sampled.count_map(),
                 f"generator: {len(sampled.smiles)} distinct structure(s) in {n} draws")


_MODES = {"denovo": _denovo, "rerank": _rerank, "rank": _rank, "qm9": _qm9,
          "generate": _generate}
