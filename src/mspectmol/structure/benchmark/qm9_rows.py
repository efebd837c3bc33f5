"""Benchmark rows of the QM9 isomer library (``mspectmol benchmark --suite structure``).

``--set only=library_qm9``: the same seeded test molecules as the re-ranking rows
(:mod:`~mspectmol.structure.benchmark.rerank_rows`), IR + 1H + 13C + formula, their
unperturbed dataset spectra as observed, ranked as ``mspectmol elucidate --library qm9``
ranks them (the elucidation service's ``qm9`` mode,
:mod:`~mspectmol.structure.elucidation.service`): once with
the functional-group pre-filter alone, once with the 13C line counts added
(``--set c13_weight=W``; 0 leaves that row out) and once with the 1H integrals per region
added as well (``--set h1_weight=W``; 0 leaves that row out). The true molecule is a QM9
molecule, so this is retrieval from a known library, not de novo generation.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from importlib.metadata import version
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.structure.benchmark.common import scored_subset, service
from mspectmol.structure.elucidation.options import ElucidationOptions
from mspectmol.structure.libraries.qm9 import FORMAT_VERSION
from mspectmol.structure.metrics import hit_rank
from mspectmol.structure.model.tokens import canonical, smiles_formula
from mspectmol.structure.ranking.prefilter import (
    C13_WEIGHT,
    DEFAULT_PREFILTER,
    FAST_NMR_SMOOTH,
    FAST_NMR_WEIGHTS,
    H1_WEIGHT,
)

log = logging.getLogger("mspectmol.structure")

#: Benchmark options (``--set KEY=VALUE``): ``library_qm9_n`` evaluates the first N of the
#: re-ranking rows' test molecules (0: all ``rerank_n``), ``prefilter`` isomers are kept.
#: ``c13_weight`` > 0 adds a second row whose pre-filter also compares 13C line counts,
#: ``h1_weight`` > 0 (with ``c13_weight`` > 0) a third that also compares 1H integrals.
QM9_DEFAULTS: dict[str, Any] = {"library_qm9_n": 0, "prefilter": DEFAULT_PREFILTER,
                                "c13_weight": C13_WEIGHT, "h1_weight": H1_WEIGHT}
QM9_QUICK: dict[str, Any] = {"library_qm9_n": 0, "prefilter": 10, "c13_weight": C13_WEIGHT,
                             "h1_weight": H1_WEIGHT}
ROW = "library_qm9/prefilter+fast-nmr"
ROW_C13 = "library_qm9/prefilter+13C+fast-nmr"
ROW_H1 = "library_qm9/prefilter+13C+1H+fast-nmr"
#: Candidates per molecule stored in the row (top-k metrics need 10).
KEEP_LISTED = 20


def plan_rows(ctx: dict[str, Any], settings_key: dict[str, Any]
              ) -> list[tuple[str, dict[str, Any], Any, tuple[int, ...], dict[str, Any]]]:
    """The QM9 retrieval settings ``(name, info, fn, mces_k, settings key)``, if planned:
    functional groups alone in the pre-filter, with 13C line counts (``c13_weight`` > 0) and
    with 13C line counts and 1H integrals (both weights > 0).

    Planned when qm9pack is installed (not in ``--quick`` runs) or ``--set only`` selects
    it. Needs ``ctx["rerank_subset"]``
    (:func:`~mspectmol.structure.benchmark.rerank_rows.plan_rows`).
    """
    opts = ctx["opts"]
    selected = any(r.startswith(p) for p in opts["only"].split(",") if p
                   for r in (ROW, ROW_C13, ROW_H1))
    installed = importlib.util.find_spec("qm9pack") is not None
    if not selected and (ctx["quick"] or not installed):
        if not installed:
            log.info("%s not planned: the qm9pack package is not installed", ROW)
        return []
    if opts["library_qm9_n"] < 0 or opts["prefilter"] < 1 or not opts["c13_weight"] >= 0 \
            or not opts["h1_weight"] >= 0:
        raise MspectmolError("--set library_qm9_n must be >= 0 (0: every re-ranking test "
                             "molecule), prefilter >= 1, c13_weight >= 0 and h1_weight >= 0")
    subset = ctx["rerank_subset"]
    n = min(opts["library_qm9_n"] or len(subset), len(subset))
    key = {**settings_key, "rerank_n": opts["rerank_n"], "library_qm9_n": n,
           "prefilter": opts["prefilter"], "subset": [int(i) for i in subset[:n]],
           "weights": FAST_NMR_WEIGHTS.to_dict(), "smooth": FAST_NMR_SMOOTH,
           "qm9pack": version("qm9pack") if installed else None, "format": FORMAT_VERSION}
    w, h = float(opts["c13_weight"]), float(opts["h1_weight"])
    settings = [(ROW, 0.0, 0.0)] + [(ROW_C13, w, 0.0)] * (w > 0) + [(ROW_H1, w, h)] * (
        w > 0 and h > 0)
    rows = []
    for name, c13, h1 in settings:
        info = {"method": _method(opts["prefilter"], c13, h1), "spectra": "IR+1H+13C",
                "formula": True}
        weights = {"c13_weight": c13} if c13 > 0 else {}
        weights |= {"h1_weight": h1} if h1 > 0 else {}
        rows.append((name, info, lambda name=name, info=info, c13=c13, h1=h1: _row(
            name, info, ctx, subset[:n], c13, h1), (1, 10), {**key, **weights}))
    return rows


def _method(prefilter: int, c13_weight: float, h1_weight: float) -> str:
    """The row's method text: which pre-filter terms it uses, with their weights."""
    if h1_weight > 0:
        terms = (f"fg, 13C line counts (weight {c13_weight:g}) and 1H integrals (weight "
                 f"{h1_weight:g})")
    elif c13_weight > 0:
        terms = f"fg and 13C line counts (weight {c13_weight:g})"
    else:
        terms = "fg"
    return (f"retrieval, not de novo: QM9 isomers, top-{prefilter} by {terms}, ll+fg+spec "
            "(simulated 1H+13C, fast)")


def _row(name: str, info: dict[str, Any], ctx: dict[str, Any], subset: np.ndarray,
         c13_weight: float, h1_weight: float) -> dict[str, Any]:
    opts, ds, svc = ctx["opts"], ctx["ds"], service(ctx)
    started = time.perf_counter()
    index = svc.qm9_index()
    index_s = time.perf_counter() - started
    rows, mods = ctx["test"][subset], svc.modalities
    grids = {m: ds.grids[m] for m in mods}
    observations = svc.observe_many({m: ds.spectra[m][rows] for m in mods},
                                    np.ones((rows.size, len(mods)), dtype=bool), grids)
    sim = svc.simulator("fast", grids, 1)
    before = dict(sim.stats)
    truths = [canonical(str(s)) for s in ds.smiles[rows]]
    lists, per = [], []
    for j, truth in enumerate(truths):
        t0 = time.perf_counter()
        formula = smiles_formula(truth)
        isomers = index.isomers(formula)
        names, kept = [], []
        if isomers:
            result = svc.run(ElucidationOptions(
                observations[j], mode="qm9", formula=formula, k=None,
                prefilter=opts["prefilter"], c13_weight=c13_weight, h1_weight=h1_weight))
            names, kept = [r.smiles for r in result.candidates], result.kept or []
        # by InChIKey block, as the top-k metrics (the dataset writes some imines "[H]N=")
        has = [truth in c or hit_rank(c, truth) is not None for c in (kept, isomers)]
        rank = hit_rank(names, truth)
        per.append({"formula": formula, "isomers": len(isomers), "kept": len(kept),
                    "truth_in_qm9": has[0] or has[1], "truth_kept": has[0],
                    "truth_rank": None if rank is None else rank + 1,
                    "seconds": time.perf_counter() - t0})
        lists.append(names[:KEEP_LISTED])
        log.info("%s %d/%d %s: %d isomers, truth kept %s, rank %s (%.1f s)", name, j + 1,
                 len(truths), formula, len(isomers), per[-1]["truth_kept"],
                 per[-1]["truth_rank"], per[-1]["seconds"])
    row = scored_subset(name, info, lists, truths, ctx, (1, 10))
    row["library_qm9"] = {
        "prefilter": opts["prefilter"], "c13_weight": c13_weight, "h1_weight": h1_weight,
        "qm9pack": index.meta.get("qm9pack"),
        "truth_in_qm9": float(np.mean([p["truth_in_qm9"] for p in per])),
        "truth_survives_prefilter": float(np.mean([p["truth_kept"] for p in per])),
        "mean_isomers": float(np.mean([p["isomers"] for p in per])),
        "median_isomers": float(np.median([p["isomers"] for p in per])),
        "mean_candidates": float(np.mean([p["kept"] for p in per])),
        "weights": FAST_NMR_WEIGHTS.to_dict(), "smooth": FAST_NMR_SMOOTH,
        "weights_source": "rerank/val-weights (chosen on 50 validation molecules for the "
                          "fast NMR recipe; not on test)",
        "simulation": {k: v - before[k] for k, v in sim.stats.items()},
        "index_seconds": index_s,
        "seconds_per_molecule": float(np.mean([p["seconds"] for p in per])),
        "per_molecule": per}
    return row


def table_note(opts: dict[str, Any]) -> str:
    """The sentence ``table.md`` adds when the QM9 retrieval row is present."""
    n = opts["library_qm9_n"] or opts["rerank_n"]
    return (f"QM9 retrieval rows ({ROW}, {ROW_C13}, {ROW_H1}): every QM9 molecule of the formula "
            "(qm9pack) is a candidate and the true molecule is one of them, so this is "
            f"retrieval from a known library, not de novo. The {opts['prefilter']} isomers that "
            "agree best with the predicted functional groups (and, in the +13C rows, with the "
            "observed 13C line counts per shift region; in the +1H row also with the observed "
            "1H integrals per region; weights chosen on validation) are "
            "simulated (fast NMR-only recipe) and ranked "
            "by ll+fg+spec with the weights and smoothing the rerank/val-weights row chose on "
            f"validation; the first {n} of the re-ranking rows' test molecules.")
