"""Benchmark rows of de novo "generate and rank": beam-search candidates re-ranked with
simulated spectra (:meth:`~mspectmol.structure.elucidation.elucidator.Elucidator.generate_and_rank`,
``mspectmol elucidate --rerank``).

The structure decoder proposes up to ``k_gen`` candidates by beam search (formula-constrained
and filtered; the valid, canonical, distinct structures among the beam's hypotheses), each
candidate's spectra are simulated (cached,
:class:`~mspectmol.structure.ranking.simulation.SimulatedSpectra`) and the candidates are
re-ranked by the ``ll + fg + spec`` score (:mod:`~mspectmol.structure.ranking.scores`). Only
decoder outputs are candidates: nothing comes from the dataset library (that would be library
search). A candidate whose simulation fails keeps its place with the largest spectral
distance (1). The simulation is the full GFN2-xTB + CSP5 recipe (IR, 1H, 13C; about 1.1 s per
QM9-size molecule on one thread) or the NMR-only recipe
(:func:`~mspectmol.structure.ranking.simulation.simulate_nmr_fast`, about 0.1 s), whose
``spec`` term compares the 1H and 13C spectra only.

Benchmark rows (``mspectmol benchmark --suite structure``; ``--set only=rerank`` runs only
these), on a seeded subset of ``rerank_n`` of the test molecules, IR + 1H + 13C + formula:

``rerank/beam``
    The beam's own order of the ``k_gen`` candidates (the baseline without re-ranking).
``rerank/stored-weights``
    The same candidates re-ranked with the structure model's stored ``ranking_weights``.
``rerank/val-weights``
    Re-ranked with weights chosen
    (:func:`~mspectmol.structure.ranking.library_search.select_weights`),
    together with the spectral smoothing (:data:`SMOOTH_GRID`), on ``rerank_val`` validation
    molecules, whose candidate lists get the true structure added when the beam missed it
    (so that every validation molecule says which candidate should win); never on test
    molecules.

The "observed" spectra are the dataset's (GFN2-xTB + CSP5) spectra, unperturbed, as in the
other de novo rows. With the fast recipe (default, ``rerank_sim=nmr``) the true structure's
simulated NMR differs from them by the geometry (MMFF instead of GFN2-xTB); with
``rerank_sim=full`` it is simulated by the dataset's own recipe, so its spectral distance
is close to 0 (like the clean library search).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.structure.benchmark.common import elucidator, scored_subset
from mspectmol.structure.elucidation.elucidator import Elucidator
from mspectmol.structure.metrics import hit_rank
from mspectmol.structure.model.tokens import canonical, smiles_formula
from mspectmol.structure.ranking.library_search import select_weights
from mspectmol.structure.ranking.scores import RankWeights, combine, rank_order
from mspectmol.structure.ranking.simulation import SimulatedSpectra
from mspectmol.structure.ranking.spectral_match import spectral_distance

log = logging.getLogger("mspectmol.structure")

#: Benchmark options of the re-ranking rows (``--set KEY=VALUE``): test and validation
#: molecules, candidates kept from the beam and its width (0: ``2 k_gen``; with a formula
#: about 40% of the hypotheses are distinct valid structures of that formula, so 200 gives
#: about 30 candidates on QM9-size molecules), ``rerank_sim`` ``nmr`` (fast NMR-only
#: simulation) or ``full``; ``only`` limits a run to settings whose names start with one of
#: its comma-separated prefixes.
RERANK_DEFAULTS: dict[str, Any] = {"rerank_n": 50, "rerank_val": 50, "k_gen": 50,
                                   "rerank_width": 200, "rerank_sim": "nmr", "only": ""}
RERANK_QUICK: dict[str, Any] = {"rerank_n": 3, "rerank_val": 3, "k_gen": 5, "rerank_width": 10,
                                "rerank_sim": "nmr", "only": ""}
#: Subset seed offset (from the benchmark seed).
SUBSET_SEED = 17
#: Spectral smoothing (Gaussian standard deviation, grid points) chosen on validation together
#: with the weights by the ``rerank/val-weights`` row.
SMOOTH_GRID = (0.0, 2.0, 5.0, 10.0)


def _cases(eluc: Elucidator, ctx: dict[str, Any], rows: np.ndarray, sim: SimulatedSpectra,
           k_gen: int, width: int, add_truth: bool) -> dict[str, Any]:
    """Beam candidates and ranking terms of dataset ``rows`` (IR + 1H + 13C + formula)."""
    ds, mods = ctx["ds"], eluc.modalities
    spectra = {m: ds.spectra[m][rows] for m in mods}
    avail = np.ones((rows.size, len(mods)), dtype=bool)
    truths = [canonical(str(s)) for s in ds.smiles[rows]]
    formulas = [smiles_formula(t) for t in truths]
    feats = eluc.features(spectra)
    probs = eluc.group_probabilities(spectra, avail)
    started = time.perf_counter()
    results = eluc.generate(feats, avail, formulas, k=k_gen, beam_width=width)
    beam_s = time.perf_counter() - started
    out: dict[str, Any] = {"beam": [], "terms": [], "spec": [], "true": [], "truths": truths,
                           "beam_seconds": beam_s,
                           "hypotheses": sum(r.n_hypotheses for r in results),
                           "valid": sum(r.n_valid for r in results)}
    for j, res in enumerate(results):
        cands = list(res.smiles)
        true = hit_rank(cands, truths[j])
        if add_truth and true is None:
            cands.append(truths[j])
            true = len(cands) - 1
        out["beam"].append(list(res.smiles))
        out["true"].append(true)
        if not cands:
            out["terms"].append(None)
            out["spec"].append(None)
            continue
        obs = {m: spectra[m][j] for m in mods}
        out["terms"].append(eluc.candidate_terms(obs, avail[j], formulas[j], cands,
                                                 features=feats[j], probabilities=probs[j]))
        sims = [sim.get(c) for c in cands]
        obs = {m: v for m, v in obs.items() if m in sim.modalities}
        out["spec"].append({w: -np.asarray([1.0 if x is None else spectral_distance(obs, x, w)
                                            for x in sims]) for w in SMOOTH_GRID})
    return out


def _terms(cases: dict[str, Any], smooth: float) -> list[dict[str, Any] | None]:
    """Each case's ``ll``/``fg`` terms with the ``spec`` term at ``smooth``."""
    return [None if t is None else {**t, "spec": s[smooth]}
            for t, s in zip(cases["terms"], cases["spec"], strict=True)]


def _prepare(ctx: dict[str, Any], eluc: Elucidator) -> dict[str, Any]:
    """Candidates, terms and weights of the re-ranking rows (computed once per run)."""
    if "rerank" in ctx:
        return ctx["rerank"]
    opts = ctx["opts"]
    started = time.perf_counter()
    grids = {m: ctx["ds"].grids[m] for m in eluc.modalities}
    sim = SimulatedSpectra(grids, fast_nmr=opts["rerank_sim"] == "nmr")
    test = ctx["test"][ctx["rerank_subset"]]
    val = ctx["val"]
    if val.size > opts["rerank_val"]:
        rng = np.random.default_rng(ctx["seed"] + SUBSET_SEED + 1)
        val = np.sort(rng.choice(val, opts["rerank_val"], replace=False))
    k_gen = opts["k_gen"]
    width = opts["rerank_width"] or 2 * k_gen
    val_cases = _cases(eluc, ctx, val, sim, k_gen, width, add_truth=True)
    chosen: dict[float, Any] = {}
    for smooth in SMOOTH_GRID:
        triples = [(t, None, i) for t, i in zip(_terms(val_cases, smooth), val_cases["true"],
                                                strict=True) if t is not None]
        chosen[smooth] = select_weights(triples)
    best = max(SMOOTH_GRID, key=lambda w: (chosen[w][1]["top1"], chosen[w][1]["mrr"], -w))
    weights, score = chosen[best]
    val_stats = dict(sim.stats)
    test_cases = _cases(eluc, ctx, test, sim, k_gen, width, add_truth=False)
    stored = eluc.meta.training.get("ranking_weights")
    in_list = [t is not None for t in test_cases["true"]]
    info = {
        "k_gen": k_gen, "beam_width": width, "simulation": opts["rerank_sim"],
        "modalities_compared": list(sim.modalities), "n_val": int(val.size),
        "val_weights": weights.to_dict(), "val_smooth": best,
        **{f"val_{k}": v for k, v in score.items()},
        "val_by_smooth": {str(w): {**c[0].to_dict(), **c[1]} for w, c in chosen.items()},
        "val_truth_in_beam": float(np.mean([b is not None and i < len(b) for b, i in
                                            zip(val_cases["beam"], val_cases["true"],
                                                strict=True)])) if val.size else 0.0,
        "stored_weights": stored, "truth_in_candidates": float(np.mean(in_list)),
        "mean_candidates": float(np.mean([len(b) for b in test_cases["beam"]])),
        "simulation_val": val_stats,
        "simulation_all": dict(sim.stats), "beam_seconds_test": test_cases["beam_seconds"],
        "seconds_prepare": time.perf_counter() - started}
    ctx["rerank"] = {"test": test_cases, "weights": weights, "smooth": best, "info": info,
                     "stored": RankWeights(**stored) if stored else None}
    log.info("re-ranking: %d test molecules, truth among the %d candidates for %.1f%%; "
             "simulation %s", test.size, k_gen, 100 * info["truth_in_candidates"], sim.stats)
    return ctx["rerank"]


def _lists(cases: dict[str, Any], weights: RankWeights | None, smooth: float
           ) -> list[list[str]]:
    """Candidates per molecule: beam order (``weights`` None) or re-ranked."""
    if weights is None:
        return [list(b) for b in cases["beam"]]
    out = []
    for beam, terms in zip(cases["beam"], _terms(cases, smooth), strict=True):
        out.append([] if terms is None else [beam[i] for i in rank_order(combine(terms,
                                                                                  weights))])
    return out


def _row(name: str, info: dict[str, Any], ctx: dict[str, Any], which: str,
         mces_k: tuple[int, ...]) -> dict[str, Any]:
    data = _prepare(ctx, elucidator(ctx))
    cases = data["test"]
    weights = {"beam": None, "stored": data["stored"], "val": data["weights"]}[which]
    source = {"beam": "beam order", "stored": "model", "val": "validation"}[which]
    if which == "stored" and weights is None:  # e.g. the --quick benchmark's tiny model
        log.warning("the structure model stores no ranking_weights: using the defaults")
        weights, source = RankWeights(), "defaults (the model stores none)"
    smooth = data["smooth"] if which == "val" else 0.0  # stored weights: chosen unsmoothed
    lists = _lists(cases, weights, smooth)
    row = scored_subset(name, info, lists, cases["truths"], ctx, mces_k)
    row["valid"] = cases["valid"] / max(1, cases["hypotheses"])
    row["rerank"] = {**data["info"], "weights_source": source, "smooth": smooth,
                     "weights": None if weights is None else weights.to_dict()}
    return row


def plan_rows(ctx: dict[str, Any], settings_key: dict[str, Any]
              ) -> list[tuple[str, dict[str, Any], Any, tuple[int, ...], dict[str, Any]]]:
    """The benchmark's re-ranking settings: ``(name, info, fn, mces_k, settings key)``.

    The rows read the ``pa_ib`` Elucidator
    (:func:`~mspectmol.structure.benchmark.common.elucidator`); ``ctx`` must hold ``test``
    and ``val`` (dataset rows) besides the suite's usual entries.
    """
    opts = ctx["opts"]
    if opts["rerank_sim"] not in ("nmr", "full"):
        raise MspectmolError(f"--set rerank_sim={opts['rerank_sim']}: expected nmr (fast "
                             "NMR-only simulation) or full (GFN2-xTB + CSP5)")
    if min(opts["rerank_n"], opts["rerank_val"], opts["k_gen"]) < 1 or opts["rerank_width"] < 0:
        raise MspectmolError("--set rerank_n, rerank_val and k_gen must be >= 1 and "
                             "rerank_width >= 0 (0: twice k_gen)")
    n = min(opts["rerank_n"], len(ctx["test"]))
    subset = np.sort(np.random.default_rng(ctx["seed"] + SUBSET_SEED).choice(
        len(ctx["test"]), n, replace=False))
    ctx["rerank_subset"] = subset
    key = {**settings_key, **{k: opts[k] for k in RERANK_DEFAULTS if k != "only"},
           "rerank_subset": [int(i) for i in subset]}
    sim = "simulated 1H+13C (fast)" if opts["rerank_sim"] == "nmr" else "simulated IR+1H+13C"
    base = {"spectra": "IR+1H+13C", "formula": True}
    k = opts["k_gen"]
    rows = [("rerank/beam", f"de novo: pa_ib, beam top-{k}, no re-ranking", "beam", (1, 10)),
            ("rerank/stored-weights",
             f"de novo + rerank: top-{k}, ll+fg+spec ({sim}), model's weights", "stored", (1,)),
            ("rerank/val-weights",
             f"de novo + rerank: top-{k}, ll+fg+spec ({sim}), weights chosen on val", "val",
             (1, 10))]
    out = []
    for name, method, which, mk in rows:
        info = {"method": method, **base}
        out.append((name, info, lambda nm=name, i=info, w=which, m=mk:
                    _row(nm, i, ctx, w, m), mk, key))
    return out


def table_note(opts: dict[str, Any]) -> str:
    """The sentence ``table.md`` adds when re-ranking rows are present."""
    return (f"Re-ranking rows (rerank/...): a seeded subset of {opts['rerank_n']} of the test "
            f"molecules, at most {opts['k_gen']} beam candidates each (beam width "
            f"{opts['rerank_width'] or 2 * opts['k_gen']}), simulated with the "
            f"{'fast NMR-only' if opts['rerank_sim'] == 'nmr' else 'full'} recipe; "
            "rerank/beam is the same candidates in beam order.")
