"""``mspectmol benchmark --suite structure``: spectra -> structure on the scaffold split.

Test molecules: the scaffold split's held-out (test) molecules of QM9 size (at most 9 heavy
atoms), a seeded subset of ``n_test`` (default 200). All in one run:

De-novo generation (beam search, top ``k`` = 10 valid canonical distinct structures)
    for the decoder on PA-IB features (``pa_ib``, the packaged default structure model when
    it exists), the decoder without PA-IB gating (``ungated``) and the plain Transformer
    encoder-decoder (``transformer``), each with IR + 1H + 13C and with IR alone, with and
    without the formula (with a formula, the beam output is filtered to that formula).
Random isomers
    ``k`` molecules drawn at random from the embedded dataset's molecules of the right
    formula (the true molecule included when drawn).
Library search (separate from de-novo generation)
    Every embedded-dataset molecule of the right formula is a candidate, the true one
    included, ranked by :mod:`~mspectmol.structure.ranking.library_search`. The "observed"
    spectra are the dataset's simulated ones, so with the spectral term the clean setting is
    nearly trivial; the "perturbed" settings shift each spectrum by up to 5 grid points and add 5%
    intensity noise (appendix Q's augmentation) before ranking. Weights are chosen on
    ``n_val`` validation molecules (perturbed) and applied unchanged to test.

Metrics (:mod:`~mspectmol.structure.metrics`): top-1/5/10 by InChIKey connectivity block
(stereo ignored), validity, Tanimoto (Morgan r=2, 2048 bits) at 1 and 10, and MCES
(myopic-mces, threshold 15, invalid = 100) with the heavy-atom-normalised mces-score, on a
seeded subset of ``n_mces`` test molecules (MCES costs about 0.2 s per pair on this CPU): at
1 for every setting, best of 10 for the headline settings (IR + 1H + 13C + formula).
Finished settings are files under ``runs/`` that a rerun skips; the baselines' models are
trained into ``models/``, removed at the end unless ``--keep-models``. ``--set KEY=VALUE``
sets n_test, n_val, n_mces, k, epochs, minutes and the options of the de novo "generate and
rank" rows (:mod:`~mspectmol.structure.benchmark.rerank_rows`: rerank_n, rerank_val, k_gen,
rerank_sim) and of the QM9 retrieval row (:mod:`~mspectmol.structure.benchmark.qm9_rows`:
library_qm9_n, prefilter: every QM9 isomer of the formula, pre-filtered by functional groups,
ranked with the fast NMR recipe; the same test molecules as the re-ranking rows; retrieval,
not de novo);
and of the evidence generator's de novo rows (:mod:`~mspectmol.structure.benchmark.prior_rows`:
prior_draws, prior_temperature, prior_model, prior_n, prior_render; the same test molecules);
``--set only=rerank`` runs only the settings whose names start with ``rerank`` (comma-separated
prefixes; ``only=library_qm9`` the QM9 rows, ``only=denovo_prior`` the generator's);
and of the drug-size rows (:mod:`~mspectmol.structure.benchmark.drug_rows`: drug_draws,
drug_temperature, drug_model, drug_n, drug_v2_n, drug_rank, drug_refine, drug_syntax,
drug_transfer; the transfer file's molecules with their own spectra and held-out v2
molecules rendered with the sim-to-real randomisation; ``only=denovo_drug``).
"""


from __future__ import annotations

import json
import logging
import shutil
import time
from typing import Any

import torch

from mspectmol.data.dataset import load_dataset
from mspectmol.errors import ConfigError
from mspectmol.structure.benchmark import (
    denovo_rows,
    drug_rows,
    prior_rows,
    qm9_rows,
    rerank_rows,
)
from mspectmol.structure.benchmark.common import (
    DEFAULTS,
    QUICK,
    SuiteOptions,
    pick,
    score_row,
    small_dataset,
)
from mspectmol.structure.benchmark.tables import write_tables
from mspectmol.structure.model.tokens import canonical, smiles_formula
from mspectmol.structure.model.variants import MODALITIES, encoder_reference
from mspectmol.structure.ranking.library_search import formula_groups

log = logging.getLogger("mspectmol.benchmark")


def suite_settings(suite: SuiteOptions) -> dict[str, Any]:
    """Every row family's options (``--quick`` sizes or the defaults) with the ``--set``
    overrides, ``--epochs`` and ``--max-train`` applied.

    Raises
    ------
    ConfigError
        For an override that is not ``KEY=VALUE`` with a known key.
    """
    opts = {**(QUICK if suite.quick else DEFAULTS),
            **(rerank_rows.RERANK_QUICK if suite.quick else rerank_rows.RERANK_DEFAULTS),
            **(qm9_rows.QM9_QUICK if suite.quick else qm9_rows.QM9_DEFAULTS),
            **(prior_rows.PRIOR_QUICK if suite.quick else prior_rows.PRIOR_DEFAULTS),
            **(drug_rows.DRUG_QUICK if suite.quick else drug_rows.DRUG_DEFAULTS)}
    for item in suite.overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in opts:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with KEY in "
                              f"{', '.join(sorted(opts))}")
        opts[key] = type(opts[key])(value)
    if suite.epochs is not None:
        opts["epochs"] = int(suite.epochs)
    if suite.max_train:
        opts["max_train"] = int(suite.max_train)
    return opts


def run_suite(args: Any) -> int:
    """Run (or resume) the structure suite and write results.json/.csv and table.md.

    ``args``: the ``mspectmol benchmark`` arguments, read once into :class:`SuiteOptions`.
    """
    return run(SuiteOptions.from_args(args))


def run(suite: SuiteOptions) -> int:
    """:func:`run_suite` on typed options."""
    opts = suite_settings(suite)
    torch.set_num_threads(suite.threads)
    out, seed = suite.out, suite.seed
    ds = (small_dataset(seed, opts, suite.data) if suite.quick
          else load_dataset(MODALITIES, path=suite.data))
    encoder, ref = encoder_reference(None)
    test = ds.split_indices("scaffold", "test")
    test = pick(test[ds.heavy_atoms[test] <= opts["max_heavy"]], opts["n_test"], seed)
    val = ds.split_indices("scaffold", "val")
    val = pick(val[ds.heavy_atoms[val] <= opts["max_heavy"]], opts["n_val"], seed + 1)
    truths = [canonical(str(s)) for s in ds.smiles[test]]
    ctx: dict[str, Any] = {
        "opts": opts, "out": out, "seed": seed, "ds": ds, "encoder": encoder, "ref": ref,
        "quick": suite.quick, "mods": MODALITIES, "truths": truths,
        "formulas": [smiles_formula(s) for s in truths], "elucidators": {}, "features": {},
        "test_spectra": {m: ds.spectra[m][test] for m in MODALITIES}, "trained": {},
        "beam_stats": {}, "mces_cache": {}, "library": formula_groups(ds.smiles),
        "mces_rows": list(range(min(opts["n_mces"], len(test)))), "test": test, "val": val,
        "chosen": {}}
    (out / "runs").mkdir(parents=True, exist_ok=True)
    plan = denovo_rows.plan_rows(ctx)
    own = {**rerank_rows.RERANK_DEFAULTS, **qm9_rows.QM9_DEFAULTS, **prior_rows.PRIOR_DEFAULTS,
           **drug_rows.DRUG_DEFAULTS}
    settings_key = {**{k: v for k, v in opts.items()  # each row family keys its own options
                       if k not in own},
                    "seed": seed, "test": [int(i) for i in test]}
    keys = {}
    # the QM9 and generator rows reuse rerank's subset
    for planner in (rerank_rows.plan_rows, qm9_rows.plan_rows, prior_rows.plan_rows,
                    drug_rows.plan_rows):
        for name, info, fn, mk, key in planner(ctx, settings_key):
            plan.append((name, info, fn, mk))
            keys[name] = key
    only = tuple(p for p in opts["only"].split(",") if p)
    if only:
        plan = [p for p in plan if p[0].startswith(only)]
        if not plan:
            raise ConfigError(f"--set only={opts['only']}: no setting name starts with that")
    rows = []
    for name, info, fn, mces_k in plan:
        path = out / "runs" / (name.replace("/", "__").replace("+", "_") + ".json")
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("settings") == keys.get(name, settings_key):
                rows.append(saved["row"])
                continue
        started = time.perf_counter()
        lists = fn()  # candidate lists, or a scored row (re-ranking settings)
        row = lists if isinstance(lists, dict) else score_row(name, info, lists, ctx, mces_k)
        if "last_valid" in ctx:  # de novo: validity of every beam hypothesis
            row["valid"] = float(ctx.pop("last_valid"))
        row["seconds"] = time.perf_counter() - started
        log.info("%s: top1 %.3f top10 %.3f (%.0f s)", name, row["top1"], row["top10"],
                 row["seconds"])
        doc = {"settings": keys.get(name, settings_key), "row": row, "weights": ctx["chosen"],
               "models": ctx["trained"], "beam": ctx["beam_stats"]}
        path.write_text(json.dumps(doc, indent=1, default=float) + "\n", encoding="utf-8")
        rows.append(row)
    for name in ("service", "drug_service"):
        if name in ctx:
            ctx[name].close()  # the simulators' worker processes
    write_tables(out, rows, opts, len(test), seed)
    if not suite.keep_models and (out / "models").is_dir():
        shutil.rmtree(out / "models")  # every setting is in runs/; --keep-models keeps them
    print(f"structure suite: {len(rows)} settings on {len(test)} test molecules; "
          f"tables in {out}")
    return 0
