"""Benchmark rows of the evidence-conditioned generator (``mspectmol benchmark --suite
structure``; ``--set only=denovo_prior`` runs only these).

The same seeded test molecules as the re-ranking rows
(:mod:`~mspectmol.structure.benchmark.rerank_rows`), with formula, their unperturbed dataset
spectra as observed, or with ``--set prior_render=randomised`` their stored peak lists
rendered with the sim-to-real randomisation (every spectrum randomised, seed 0), so that
the observed spectra are not the ones the ranking stage's simulator would give. For each
molecule the generator (:mod:`~mspectmol.structure.generation.generator`) draws
``prior_draws`` formula-constrained SMILES at ``prior_temperature``; de novo throughout: no
library is read and the generator never saw a test molecule or its scaffold.

``denovo_prior/<spectra>/by-count``
    The distinct structures drawn, most often drawn first (the generator alone, no
    simulation); with ``IR+1H+13C`` evidence and with ``IR`` alone (group probabilities from
    IR; no NMR evidence).
``denovo_prior/IR+1H+13C/prefilter+fast-nmr``
    The drawn structures through the elucidation service's ``generate`` mode
    (:mod:`~mspectmol.structure.elucidation.service`, the QM9 rows' pipeline): pre-filter
    (groups, 13C lines, 1H integrals) to ``prefilter``, fast NMR simulation,
    ``ll + fg + spec`` with the weights chosen on validation for that recipe.
``denovo_prior/IR+1H+13C/prefilter+fast-nmr+gen``
    The same, with the generator's ``gen`` term (log of 1 + the draws of each candidate) and
    the 13C line term ``lines`` (:mod:`~mspectmol.structure.ranking.scores`) at the weights
    chosen on validation (:data:`~mspectmol.structure.ranking.prefilter.GENERATED_WEIGHTS`).
``denovo_prior/IR+1H+13C/prefilter+fast-nmr+gen+full-top20``
    The same, then the best 20 re-ranked by the second stage
    (:mod:`~mspectmol.structure.ranking.refine`: IR, 1H and 13C simulated with the full GFN2-xTB +
    CSP5 recipe, weight and smoothing chosen on validation): what
    ``mspectmol elucidate --generate`` does. The full recipe is the one that simulated the
    dataset's spectra, so the true structure's simulated spectra are close to the observed
    ones unless its conformer search finds another conformer or stereoisomer than the
    dataset's QM9 geometry (or the dataset holds another tautomer); on measured spectra the
    simulator's own error adds to that distance.
"""


from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.structure.benchmark.common import (
    INPUTS,
    masked,
    randomised_spectra,
    scored_subset,
    service,
)
from mspectmol.structure.elucidation.options import ElucidationOptions
from mspectmol.structure.generation.generator import prior_model_path
from mspectmol.structure.metrics import hit_rank
from mspectmol.structure.model.io import read_structure_meta
from mspectmol.structure.model.tokens import canonical, smiles_formula
from mspectmol.structure.ranking import refine
from mspectmol.structure.ranking.prefilter import (
    DRAWN_WEIGHT,
    FAST_NMR_SMOOTH,
    FAST_NMR_WEIGHTS,
    GENERATED_WEIGHTS,
)
from mspectmol.structure.ranking.scores import RankWeights

log = logging.getLogger("mspectmol.structure")

#: ``--set`` options: draws per molecule, temperature, the generator folder ("" = packaged),
#: how many of the re-ranking rows' test molecules (0 = all), the observed spectra
#: (``prior_render``: "" = the dataset's own rendering, "randomised" = the stored peak lists
#: rendered with every spectrum randomised, seed 0, :data:`RENDERINGS`), the processes
#: simulating candidates (``prior_jobs``; does not change results, so not part of a row's
#: settings) and the pre-filter's weight of each drawn structure's draw count
#: (``drawn_weight``, also for the drug-size rows; :func:`drawn_key`).
PRIOR_DEFAULTS: dict[str, Any] = {"prior_draws": 4000, "prior_temperature": 1.0,
                                  "prior_model": "", "prior_n": 0, "prior_render": "",
                                  "prior_jobs": 2, "drawn_weight": DRAWN_WEIGHT}
PRIOR_QUICK: dict[str, Any] = {"prior_draws": 20, "prior_temperature": 1.0, "prior_model": "",
                               "prior_n": 0, "prior_render": "", "prior_jobs": 1,
                               "drawn_weight": DRAWN_WEIGHT}
#: ``prior_render`` values and what the table says of them.
RENDERINGS = {"": "", "randomised": " (randomised rendering)"}
PREFIX = "denovo_prior"
KEEP_LISTED = 20


def plan_rows(ctx: dict[str, Any], settings_key: dict[str, Any]
              ) -> list[tuple[str, dict[str, Any], Any, tuple[int, ...], dict[str, Any]]]:
    """The generator's settings ``(name, info, fn, mces_k, settings key)``: planned when a
    generator model exists (packaged or ``--set prior_model``) or ``--set only`` selects
    them. Needs ``ctx["rerank_subset"]``."""
    opts = ctx["opts"]
    selected = any(p and (p.startswith(PREFIX) or PREFIX.startswith(p))
                   for p in opts["only"].split(","))
    try:
        path = prior_model_path(opts["prior_model"] or None)
        meta = read_structure_meta(path)
    except MspectmolError:
        if selected:
            raise
        log.info("%s rows not planned: no structure generator model", PREFIX)
        return []
    if (opts["prior_draws"] < 1 or not opts["prior_temperature"] > 0 or opts["prior_n"] < 0
            or opts["prior_jobs"] < 1 or not drawn_weight(opts) >= 0):
        raise MspectmolError("--set prior_draws and prior_jobs must be >= 1, "
                             "prior_temperature > 0, prior_n and drawn_weight >= 0")
    if opts["prior_render"] not in RENDERINGS:
        raise MspectmolError(f"--set prior_render={opts['prior_render']!r}: expected "
                             "'randomised' or nothing (the dataset's own spectra)")
    subset = ctx["rerank_subset"]
    n = min(opts["prior_n"] or len(subset), len(subset))
    key = {**settings_key, "subset": [int(i) for i in subset[:n]],
           "draws": opts["prior_draws"], "temperature": opts["prior_temperature"],
           "generator": meta.content_hash, "prefilter": opts["prefilter"],
           "c13_weight": opts["c13_weight"], "h1_weight": opts["h1_weight"],
           "weights": FAST_NMR_WEIGHTS.to_dict(), "smooth": FAST_NMR_SMOOTH,
           # only when set, so that rows of the dataset's own spectra keep their keys
           **({"render": opts["prior_render"]} if opts["prior_render"] else {})}
    state: dict[str, Any] = {"path": path, "subset": subset[:n], "samples": {}}
    what = f"{opts['prior_draws']} draws at T={opts['prior_temperature']:g}"
    rows = []
    for inputs in ("IR+1H+13C", "IR"):
        name = f"{PREFIX}/{inputs}/by-count"
        info = {"method": f"de novo: evidence generator, {what}, by count",
                "spectra": inputs + RENDERINGS[opts["prior_render"]], "formula": True}
        rows.append((name, info, lambda nm=name, i=info, s=inputs: _by_count(
            nm, i, ctx, state, s), (1, 10), key))
    second = {"k": refine.K, "weight": refine.WEIGHT, "smooth": refine.SMOOTH,
              "max_shift": refine.MAX_SHIFT, "lines_weight": refine.LINES_WEIGHT}
    for suffix, weights, terms, k in (
            ("", FAST_NMR_WEIGHTS, "ll+fg+spec", 0),
            ("+gen", GENERATED_WEIGHTS, "ll+fg+spec+gen+lines", 0),
            (f"+gen+full-top{refine.K}", GENERATED_WEIGHTS, "ll+fg+spec+gen+lines",
             refine.K)):
        name = f"{PREFIX}/IR+1H+13C/prefilter+fast-nmr{suffix}"
        then = (f", then the top {k} + full (simulated IR+1H+13C, GFN2-xTB + CSP5, "
                 f"shifts up to {refine.MAX_SHIFT} points searched)" if k else "")
        info = {"method": f"de novo: evidence generator, {what}, top-{opts['prefilter']} by "
                          f"fg, 13C and 1H, {terms} (simulated 1H+13C, fast){then}",
                "spectra": "IR+1H+13C" + RENDERINGS[opts["prior_render"]], "formula": True}
        rows.append((name, info, lambda nm=name, i=info, w=weights, r=k: _ranked(
            nm, i, ctx, state, w, r), (1, 10),
            {**key, "weights": weights.to_dict(), **({"refine": second} if k else {}),
             **drawn_key(opts)}))
    return rows


def drawn_weight(opts: dict[str, Any]) -> float:
    """The pre-filter's draw-count weight of ``opts`` (:data:`DRAWN_WEIGHT` unless set)."""
    return float(opts.get("drawn_weight", DRAWN_WEIGHT))


def drawn_key(opts: dict[str, Any]) -> dict[str, Any]:
    """The ranked rows' settings entry for the pre-filter's draw-count weight: only when it
    is not 0, so that rows measured before the pre-filter had that term keep their keys."""
    weight = drawn_weight(opts)
    return {"drawn_weight": weight} if weight else {}


def _inputs(ctx: dict[str, Any], state: dict[str, Any], inputs: str) -> dict[str, Any]:
    """Observations, truths and draws of the subset's molecules (cached per input)."""
    if inputs in state["samples"]:
        return state["samples"][inputs]
    svc, ds, opts, rows = service(ctx), ctx["ds"], ctx["opts"], ctx["test"][state["subset"]]
    mods = svc.modalities
    spectra, avail = masked(observed_spectra(ds, rows, mods, opts["prior_render"]),
                            INPUTS[inputs], mods)
    observations = svc.observe_many(spectra, avail, {m: ds.grids[m] for m in mods},
                                    features=inputs == "IR+1H+13C")
    truths = [canonical(str(s)) for s in ds.smiles[rows]]
    started = time.perf_counter()
    samples = [svc.draw(obs, smiles_formula(truth), opts["prior_draws"],
                        temperature=opts["prior_temperature"], seed=j,
                        generator=state["path"])
               for j, (obs, truth) in enumerate(zip(observations, truths, strict=True))]
    out = {"observations": observations, "truths": truths, "samples": samples,
           "seconds": time.perf_counter() - started}
    state["samples"][inputs] = out
    return out


def observed_spectra(ds: Any, rows: np.ndarray, modalities: tuple[str, ...], render: str
                     ) -> dict[str, np.ndarray]:
    """The test molecules' observed spectra: the dataset's own (``render`` ""), or their
    stored peak lists rendered with every spectrum randomised (seed 0), which the ranking
    stage's simulator did not make."""
    if not render:
        return {m: ds.spectra[m][rows] for m in modalities}
    return randomised_spectra(np.asarray(ds.ids)[rows], modalities,
                              {m: ds.grids[m] for m in modalities})


def sampling_stats(case: dict[str, Any]) -> dict[str, Any]:
    """Draws, distinct structures, valid share, truth drawn and sampling time of a case
    (``samples``, ``truths``, ``seconds``)."""
    ranks = [hit_rank(s.smiles, t) for s, t in zip(case["samples"], case["truths"],
                                                   strict=True)]
    return {"draws": int(case["samples"][0].n_draws) if case["samples"] else 0,
            "mean_distinct": float(np.mean([len(s.smiles) for s in case["samples"]] or [0])),
            "valid_fraction": float(np.mean([s.n_valid / max(1, s.n_draws)
                                             for s in case["samples"]] or [0])),
            "truth_drawn": float(np.mean([r is not None for r in ranks] or [0])),
            "sampling_seconds_per_molecule": case["seconds"] / max(1, len(ranks))}


def by_count_row(name: str, info: dict[str, Any], ctx: dict[str, Any],
                 case: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The row of a case's distinct draws, most often drawn first, with its
    :func:`sampling_stats` under ``prefix``."""
    lists = [s.smiles[:KEEP_LISTED] for s in case["samples"]]
    row = scored_subset(name, info, lists, case["truths"], ctx, (1, 10))
    row[prefix] = sampling_stats(case)
    row["valid"] = row[prefix]["valid_fraction"]
    return row


def _by_count(name: str, info: dict[str, Any], ctx: dict[str, Any], state: dict[str, Any],
              inputs: str) -> dict[str, Any]:
    return by_count_row(name, info, ctx, _inputs(ctx, state, inputs), PREFIX)


def _ranked(name: str, info: dict[str, Any], ctx: dict[str, Any], state: dict[str, Any],
            weights: RankWeights, refine_k: int = 0) -> dict[str, Any]:
    """The drawn structures ranked by the service's ``generate`` mode with ``weights`` and,
    with ``refine_k``, the second stage."""
    svc, opts, ds = service(ctx), ctx["opts"], ctx["ds"]
    case = _inputs(ctx, state, "IR+1H+13C")
    grids = {m: ds.grids[m] for m in svc.modalities}
    fast = svc.simulator("fast", grids, opts["prior_jobs"])
    full = svc.simulator("full", grids, opts["prior_jobs"]) if refine_k else None
    before = {"fast": dict(fast.stats), "full": dict(full.stats) if full else {}}
    lists, per = [], []
    for j, (truth, sampled) in enumerate(zip(case["truths"], case["samples"], strict=True)):
        t0 = time.perf_counter()
        formula = smiles_formula(truth)
        names, first, kept = [], [], []
        if sampled.smiles:
            result = svc.run(ElucidationOptions(
                case["observations"][j], mode="generate", formula=formula, k=None,
                n_generated=opts["prior_draws"], temperature=opts["prior_temperature"],
                seed=j, drawn=sampled, weights=weights, prefilter=opts["prefilter"],
                c13_weight=opts["c13_weight"], h1_weight=opts["h1_weight"],
                drawn_weight=drawn_weight(opts), refine=refine_k, generator=state["path"],
                jobs=opts["prior_jobs"]))
            names = [r.smiles for r in result.candidates]
            first = [r.smiles for r in result.first_stage or []]
            kept = result.kept or []
        first_rank, rank = hit_rank(first, truth), hit_rank(names, truth)
        per.append({"formula": formula, "distinct": len(sampled.smiles),
                    "kept": len(kept),
                    "truth_drawn": hit_rank(sampled.smiles, truth) is not None,
                    "truth_kept": hit_rank(kept, truth) is not None,
                    "truth_rank": None if rank is None else rank + 1,
                    **({"truth_rank_first_stage": None if first_rank is None
                        else first_rank + 1} if refine_k else {}),
                    "seconds": time.perf_counter() - t0})
        lists.append(names[:KEEP_LISTED])
        log.info("%s %d/%d %s: %d drawn, truth drawn %s, rank %s (%.1f s)", name, j + 1,
                 len(case["truths"]), per[-1]["formula"], len(sampled.smiles),
                 per[-1]["truth_drawn"], per[-1]["truth_rank"], per[-1]["seconds"])
    row = scored_subset(name, info, lists, case["truths"], ctx, (1, 10))
    stats = sampling_stats(case)
    row["valid"] = stats["valid_fraction"]
    row[PREFIX] = {**stats,
                   "truth_survives_prefilter": float(np.mean([p["truth_kept"] for p in per])),
                   "simulation": {k: v - before["fast"][k] for k, v in fast.stats.items()},
                   **({"full_simulation": {k: v - before["full"][k]
                                           for k, v in full.stats.items()}}
                      if full is not None else {}),
                   "seconds_per_molecule": float(np.mean([p["seconds"] for p in per])),
                   "per_molecule": per}
    return row


def table_note(opts: dict[str, Any]) -> str:
    """The sentence ``table.md`` adds when the generator's rows are present."""
    return (f"Generator rows ({PREFIX}/...): de novo; the evidence-conditioned generator "
            "(pre-trained on QM9 minus every validation/test molecule and scaffold) draws "
            f"{opts['prior_draws']} formula-constrained SMILES per molecule at temperature "
            f"{opts['prior_temperature']:g}; by-count ranks the distinct structures by how "
            "often they were drawn, prefilter+fast-nmr ranks them as the QM9 retrieval rows "
            f"rank QM9 isomers, +full-top{refine.K} then re-ranks the best {refine.K} by "
            "their full "
            "GFN2-xTB + CSP5 simulation (the recipe of the dataset's own spectra); the "
            "re-ranking rows' test molecules."
            + (" Their observed spectra are the stored peak lists rendered with every "
               "spectrum randomised (seed 0; `--set prior_render=randomised`), not the "
               "rendering the ranking stage compares with." if opts.get("prior_render")
               else ""))
