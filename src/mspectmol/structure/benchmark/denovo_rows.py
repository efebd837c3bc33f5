"""Benchmark rows of de-novo beam search, random isomers and library search
(``mspectmol benchmark --suite structure``).

``denovo/<variant>/<spectra>/<formula or not>``
    Beam search, top ``k`` valid canonical distinct structures, for the decoder on PA-IB
    features (``pa_ib``), without PA-IB gating (``ungated``) and the plain Transformer
    (``transformer``), with IR + 1H + 13C and with IR alone, with and without the formula.
``random-isomers``
    ``k`` embedded-dataset molecules of the right formula drawn at random.
``library/<clean or perturbed>/<terms>``
    Every embedded-dataset molecule of the formula ranked
    (:mod:`~mspectmol.structure.ranking.library_search`), weights chosen on perturbed
    validation molecules; the true molecule is a candidate, so this is not de novo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mspectmol.structure.benchmark.common import INPUTS, elucidator, masked
from mspectmol.structure.ranking.library_search import (
    library_cases,
    ranked_lists,
    select_weights,
)

#: A planned setting: name, table columns, the function computing its candidate lists (or
#: its scored row) and the ``k`` of its MCES columns.
Planned = tuple[str, dict[str, Any], Callable[[], Any], tuple[int, ...]]


def _denovo(variant: str, inputs: str, with_formula: bool, ctx: dict[str, Any]
            ) -> list[list[str]]:
    key = (variant, inputs)
    eluc = elucidator(ctx, variant)
    if key not in ctx["features"]:
        spectra, avail = masked(ctx["test_spectra"], INPUTS[inputs], ctx["mods"])
        ctx["features"][key] = (eluc.features(spectra), avail)
    feats, avail = ctx["features"][key]
    k = ctx["opts"]["k"]
    formulas = ctx["formulas"] if with_formula else [None] * len(ctx["truths"])
    width = 2 * k if with_formula else k
    results = eluc.generate(feats, avail, formulas, k=k, beam_width=width)
    ctx["last_valid"] = (sum(r.n_valid for r in results)
                         / max(1, sum(r.n_hypotheses for r in results)))
    ctx["beam_stats"][f"{variant}/{inputs}/{with_formula}"] = {
        "hypotheses": int(sum(r.n_hypotheses for r in results)),
        "valid": int(sum(r.n_valid for r in results)),
        "wrong_formula": int(sum(r.n_wrong_formula for r in results))}
    return [r.smiles for r in results]


def _random_isomers(ctx: dict[str, Any]) -> list[list[str]]:
    rng = np.random.default_rng(ctx["seed"] + 7)
    groups, smiles, _ = ctx["library"]
    out = []
    for f in ctx["formulas"]:
        pool = list(dict.fromkeys(smiles[j] for j in groups.get(f, [])))
        take = rng.choice(len(pool), min(ctx["opts"]["k"], len(pool)), replace=False)
        out.append([pool[j] for j in take])
    return out


def _library(perturbed: bool, terms: tuple[str, ...], ctx: dict[str, Any]) -> list[list[str]]:
    """Library search with weights chosen on perturbed validation molecules (recorded in
    ``ctx["chosen"]``)."""
    tag = f"{'perturbed' if perturbed else 'clean'}/{'+'.join(terms)}"
    eluc, ds, seed = elucidator(ctx), ctx["ds"], ctx["seed"]
    cases = library_cases(eluc, ds, ctx["val"], ctx["library"], perturbed=True, seed=seed + 11)
    weights, score = select_weights(cases, terms)
    ctx["chosen"][tag] = {**weights.to_dict(), **{f"val_{k}": v for k, v in score.items()}}
    return ranked_lists(library_cases(eluc, ds, ctx["test"], ctx["library"],
                                      perturbed=perturbed, seed=seed + 13), weights)


def plan_rows(ctx: dict[str, Any]) -> list[Planned]:
    """The de-novo, random-isomer and library-search settings, in table order."""
    plan: list[Planned] = []
    for variant in ("pa_ib", "ungated", "transformer"):
        for inputs in INPUTS:
            for wf in (True, False):
                headline = inputs == "IR+1H+13C" and wf and variant != "ungated"
                plan.append((f"denovo/{variant}/{inputs}/{'formula' if wf else 'no-formula'}",
                             {"method": f"de novo: {variant}", "spectra": inputs,
                              "formula": wf},
                             lambda v=variant, i=inputs, w=wf: _denovo(v, i, w, ctx),
                             (1, 10) if headline else (1,)))
    plan.append(("random-isomers", {"method": "random isomers (dataset)",
                                    "spectra": "-", "formula": True},
                 lambda: _random_isomers(ctx), (1,)))
    for perturbed, terms, mk in ((False, ("ll", "fg", "spec"), (1,)),
                                 (True, ("ll", "fg", "spec"), (1, 10)),
                                 (True, ("ll", "fg"), (1,))):
        name = f"library/{'perturbed' if perturbed else 'clean'}/{'+'.join(terms)}"
        plan.append((name, {"method": f"library search ({'+'.join(terms)}, "
                             f"{'perturbed' if perturbed else 'clean'} spectra)",
                            "spectra": "IR+1H+13C", "formula": True},
                     lambda p=perturbed, t=terms: _library(p, t, ctx), mk))
    return plan
