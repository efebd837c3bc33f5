"""Benchmark rows of de novo elucidation for drug-size molecules (``mspectmol benchmark
--suite structure``; ``--set only=denovo_drug`` runs only these).

Two sets of molecules whose spectra the ranking stage did not make:

``alberts``
    The molecules of a transfer validation file (``--set drug_transfer=PATH``, by default
    ``../shared/data/alberts-example/example_data_1.parquet``: another group's simulated IR,
    1H- and 13C-NMR of drug-size molecules), read as files are
    (:func:`~mspectmol.data.transfer.transfer_molecules`); a validation set, never trained on.
``v2-test``
    ``drug_v2_n`` (seeded) held-out drug-size molecules of the embedded dataset v2's scaffold
    test part, their stored peak lists rendered with the sim-to-real randomisation
    (:class:`~mspectmol.data.rendering.PeakRenderer`, every spectrum randomised, seed 0),
    not the dataset's one rendering.
    The generator's corpus leaves out the v2 validation and test molecules of the index it was
    built from; v2 is built chunk by chunk, so after later chunks rebuild the corpus (and
    the generator) before trusting these rows: a later test molecule may be in its MOSES
    sample.

Each molecule's spectra go through the elucidation service as ``mspectmol elucidate`` loads
it (the default classifier's group probabilities, the 13C lines and 1H integrals read off
the spectra), with its formula; the generator (``--set drug_model=DIR``, by default the
packaged ``prior-drug``) draws ``drug_draws`` formula-constrained SMILES at
``drug_temperature``. Rows per set:

``denovo_drug/<set>/by-count``
    The distinct structures drawn, most often drawn first (the generator alone).
``denovo_drug/<set>/prefilter+fast-nmr+gen``
    The drawn structures ranked by ``elucidate --generate``'s first stage (pre-filter by
    groups, 13C lines and 1H integrals, fast CSP5 NMR, ``ll + fg + spec + gen``); planned
    with ``--set drug_rank=1``.
``denovo_drug/<set>/prefilter+fast-nmr+gen+full-top<K>``
    The same, then the best ``K`` re-ranked by their full GFN2-xTB + CSP5 simulation
    (``elucidate --generate``'s default second stage); planned with ``--set drug_rank=1
    --set drug_refine=K``.

With ``--set drug_syntax=1`` the draws are also kept parseable SMILES with sound valences
(:mod:`~mspectmol.structure.generation.syntax`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from mspectmol.data.dataset import EMBEDDED_V2_DIR
from mspectmol.data.transfer import transfer_molecules
from mspectmol.errors import MspectmolError
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.structure.benchmark.common import pick, randomised_spectra, scored_subset
from mspectmol.structure.benchmark.prior_rows import (
    KEEP_LISTED,
    by_count_row,
    drawn_key,
    drawn_weight,
    sampling_stats,
)
from mspectmol.structure.elucidation.options import ElucidationOptions
from mspectmol.structure.elucidation.service import ElucidationService
from mspectmol.structure.generation.generator import prior_model_path
from mspectmol.structure.metrics import hit_rank
from mspectmol.structure.model.io import read_structure_meta
from mspectmol.structure.model.tokens import canonical, smiles_formula
from mspectmol.structure.pretrained import PRETRAINED_DIR
from mspectmol.structure.ranking import refine
from mspectmol.structure.ranking.prefilter import GENERATED_WEIGHTS

log = logging.getLogger("mspectmol.structure")

PREFIX = "denovo_drug"
#: The packaged drug-size generator's folder name.
DRUG_GENERATOR = "prior-drug"
DRUG_DEFAULTS: dict[str, Any] = {
    "drug_draws": 1000, "drug_temperature": 1.0, "drug_model": "", "drug_n": 0,
    "drug_v2_n": 50, "drug_rank": 0, "drug_syntax": 0, "drug_refine": 0,
    "drug_transfer": "../shared/data/alberts-example/example_data_1.parquet"}
DRUG_QUICK: dict[str, Any] = {**DRUG_DEFAULTS, "drug_draws": 20, "drug_n": 3, "drug_v2_n": 3}
MODALITIES = ("ir", "h_nmr", "c_nmr")


def _grids() -> dict[str, np.ndarray]:
    """The 600-point model grids every set is read onto."""
    return {m: canonical_grid(m, 600) for m in MODALITIES}


def drug_model_path(name: str = "") -> Path:
    """``name`` as a folder, or the packaged drug-size generator."""
    return prior_model_path(name or PRETRAINED_DIR / DRUG_GENERATOR)


def plan_rows(ctx: dict[str, Any], settings_key: dict[str, Any]
              ) -> list[tuple[str, dict[str, Any], Any, tuple[int, ...], dict[str, Any]]]:
    """The drug-size rows ``(name, info, fn, mces_k, settings key)``: planned when the
    generator exists (or ``--set only`` selects them) and, for ``alberts``, the transfer
    file does."""
    opts = ctx["opts"]
    selected = any(p and (p.startswith(PREFIX) or PREFIX.startswith(p))
                   for p in opts["only"].split(","))
    try:
        path = drug_model_path(opts["drug_model"])
        meta = read_structure_meta(path)
    except MspectmolError:
        if selected:
            raise
        log.info("%s rows not planned: no drug-size generator", PREFIX)
        return []
    if opts["drug_draws"] < 1 or not opts["drug_temperature"] > 0 or opts["drug_n"] < 0 \
            or opts["drug_v2_n"] < 0 or opts["drug_refine"] < 0:
        raise MspectmolError("--set drug_draws must be >= 1, drug_temperature > 0, drug_n, "
                             "drug_v2_n and drug_refine >= 0")
    sets = ["v2-test"]
    if Path(opts["drug_transfer"]).exists():
        sets.insert(0, "alberts")
    else:
        log.info("%s/alberts rows not planned: %s not found", PREFIX, opts["drug_transfer"])
    # drug_syntax only when set, so that rows drawn without it keep their keys; drug_refine
    # only in the second stage's rows
    key = {"seed": settings_key.get("seed", 0), "generator": meta.content_hash,
           **{k: opts[k] for k in DRUG_DEFAULTS
              if k != "drug_refine" and (k != "drug_syntax" or opts[k])}}
    state: dict[str, Any] = {"path": path, "cases": {}}
    what = (f"{opts['drug_draws']} draws at T={opts['drug_temperature']:g}"
            + (", SMILES syntax and valences constrained" if opts["drug_syntax"] else ""))
    rows = []
    for name_set in sets:
        spectra = "IR+1H+13C (" + ("their own" if name_set == "alberts" else
                                   "randomised rendering") + ")"
        name = f"{PREFIX}/{name_set}/by-count"
        info = {"method": f"de novo, drug-size generator: {what}, by count",
                "spectra": spectra, "formula": True}
        rows.append((name, info, lambda nm=name, i=info, s=name_set: _by_count(
            nm, i, ctx, state, s), (1, 10), key))
        if not opts["drug_rank"]:
            continue
        first = (f"de novo, drug-size generator: {what}, top-{opts['prefilter']} by fg, 13C "
                 "and 1H, ll+fg+spec+gen+lines (simulated 1H+13C, fast)")
        for refine_k in sorted({0, int(opts["drug_refine"])}):
            suffix = f"+full-top{refine_k}" if refine_k else ""
            name = f"{PREFIX}/{name_set}/prefilter+fast-nmr+gen{suffix}"
            then = (f", then the top {refine_k} + full (simulated IR+1H+13C, GFN2-xTB + CSP5)"
                    if refine_k else "")
            info = {"method": first + then, "spectra": spectra, "formula": True}
            second = {"drug_refine": refine_k, "lines_weight": refine.LINES_WEIGHT}
            rows.append((name, info, lambda nm=name, i=info, s=name_set, r=refine_k: _ranked(
                nm, i, ctx, state, s, r), (1, 10),
                {**key, **drawn_key(opts), "weights": GENERATED_WEIGHTS.to_dict(),
                 **(second if refine_k else {})}))
    return rows


def alberts_molecules(path: str | Path, n: int = 0
                      ) -> tuple[list[str], dict[str, np.ndarray]]:
    """Canonical SMILES and spectra (on the 600-point grids) of a transfer file's first
    ``n`` molecules (0: all)."""
    grids = _grids()
    smiles, spectra = transfer_molecules(path, MODALITIES, grids, n_max=n or None)
    return [canonical(s) or s for s in smiles], spectra


def v2_test_molecules(n: int, seed: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """``n`` seeded drug-size scaffold-test molecules of the embedded dataset v2 and their
    peak lists rendered with every spectrum randomised."""
    index = pq.read_table(EMBEDDED_V2_DIR / "index.parquet",
                          columns=["id", "smiles", "part", "split_scaffold"]).to_pydict()
    rows = np.flatnonzero([p == "v2" and s == "test" for p, s in
                           zip(index["part"], index["split_scaffold"], strict=True)])
    rows = pick(rows, n, seed)
    ids = np.asarray(index["id"])[rows]
    spectra = randomised_spectra(ids, MODALITIES, _grids(), path=EMBEDDED_V2_DIR)
    return [canonical(str(index["smiles"][r])) for r in rows], spectra


def _service(ctx: dict[str, Any], state: dict[str, Any]) -> ElucidationService:
    """The service as ``mspectmol elucidate --generate --generator DIR`` loads it."""
    if "drug_service" not in ctx:
        ctx["drug_service"] = ElucidationService.load(generator=state["path"],
                                                      with_generator=True)
    return ctx["drug_service"]


def _case(ctx: dict[str, Any], state: dict[str, Any], which: str) -> dict[str, Any]:
    """Truths, observations and draws of one set (cached)."""
    if which in state["cases"]:
        return state["cases"][which]
    opts = ctx["opts"]
    svc = _service(ctx, state)
    if which == "alberts":
        truths, spectra = alberts_molecules(opts["drug_transfer"], opts["drug_n"])
    else:
        truths, spectra = v2_test_molecules(opts["drug_v2_n"], ctx["seed"])
    grids = _grids()
    avail = np.ones((len(truths), len(MODALITIES)), dtype=bool)
    observations = svc.observe_many({m: spectra[m] for m in svc.modalities}, avail,
                                    {m: grids[m] for m in svc.modalities}, features=False)
    started = time.perf_counter()
    samples = []
    for j, truth in enumerate(truths):
        samples.append(svc.draw(observations[j], smiles_formula(truth), opts["drug_draws"],
                                temperature=opts["drug_temperature"], seed=j,
                                generator=state["path"], syntax=bool(opts["drug_syntax"])))
        log.info("%s/%s %d/%d: %d distinct, truth drawn %s", PREFIX, which, j + 1,
                 len(truths), len(samples[-1].smiles),
                 hit_rank(samples[-1].smiles, truth) is not None)
    case = {"truths": truths, "observations": observations, "samples": samples,
            "seconds": time.perf_counter() - started}
    state["cases"][which] = case
    return case


def _by_count(name: str, info: dict[str, Any], ctx: dict[str, Any], state: dict[str, Any],
              which: str) -> dict[str, Any]:
    return by_count_row(name, info, ctx, _case(ctx, state, which), PREFIX)


def _ranked(name: str, info: dict[str, Any], ctx: dict[str, Any], state: dict[str, Any],
            which: str, refine_k: int = 0) -> dict[str, Any]:
    """The drawn structures ranked by the service's ``generate`` mode: its first stage, and
    with ``refine_k`` its second (the best ``refine_k`` by the full simulation)."""
    opts = ctx["opts"]
    svc = _service(ctx, state)
    case = _case(ctx, state, which)
    lists, seconds, per = [], [], []
    for j, (truth, sampled) in enumerate(zip(case["truths"], case["samples"], strict=True)):
        t0 = time.perf_counter()
        names: list[str] = []
        kept: list[str] = []
        if sampled.smiles:
            result = svc.run(ElucidationOptions(
                case["observations"][j], mode="generate", formula=smiles_formula(truth),
                k=None, n_generated=opts["drug_draws"], temperature=opts["drug_temperature"],
                seed=j, drawn=sampled, weights=GENERATED_WEIGHTS, prefilter=opts["prefilter"],
                c13_weight=opts["c13_weight"], h1_weight=opts["h1_weight"],
                drawn_weight=drawn_weight(opts), refine=refine_k, generator=state["path"],
                jobs=opts.get("prior_jobs", 1)))
            names = [r.smiles for r in result.candidates]
            kept = result.kept or []
        lists.append(names[:KEEP_LISTED])
        seconds.append(time.perf_counter() - t0)
        rank = hit_rank(names, truth)
        per.append({"distinct": len(sampled.smiles), "kept": len(kept),
                    "truth_drawn": hit_rank(sampled.smiles, truth) is not None,
                    "truth_kept": hit_rank(kept, truth) is not None,
                    "truth_rank": None if rank is None else rank + 1,
                    "seconds": seconds[-1]})
        log.info("%s %d/%d: truth drawn %s, rank %s (%.1f s)", name, j + 1,
                 len(case["truths"]), per[-1]["truth_drawn"], per[-1]["truth_rank"],
                 seconds[-1])
    row = scored_subset(name, info, lists, case["truths"], ctx, (1, 10))
    row[PREFIX] = {**sampling_stats(case),
                   "truth_survives_prefilter": float(np.mean([p["truth_kept"] for p in per]
                                                             or [0.0])),
                   "seconds_per_molecule": float(np.mean(seconds or [0])),
                   "per_molecule": per}
    row["valid"] = row[PREFIX]["valid_fraction"]
    return row


def table_note(opts: dict[str, Any]) -> str:
    """The sentence ``table.md`` adds when the drug-size rows are present."""
    return (f"Drug-size rows ({PREFIX}/...): de novo; the drug-size generator (trained on a "
            "MOSES sample and the embedded dataset v2's training molecules, minus every "
            f"validation/test molecule and scaffold) draws {opts['drug_draws']} "
            f"formula-constrained SMILES per molecule at temperature "
            f"{opts['drug_temperature']:g}, from evidence read off the spectra by the default "
            "classifier; alberts = the transfer file's molecules with their own spectra "
            f"({opts['drug_transfer']}; validation only, never trained on), v2-test = "
            f"{opts['drug_v2_n']} held-out v2 molecules rendered with the sim-to-real "
            "randomisation.")
