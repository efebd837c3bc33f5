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
    included, ranked by :mod:`~mspectmol.structure.ranking`. The "observed" spectra are the
    dataset's simulated ones, so with the spectral term the clean setting is nearly
    trivial; the "perturbed" settings shift each spectrum by up to 5 grid points and add 5%
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
rank" rows (:mod:`~mspectmol.structure.rerank`: rerank_n, rerank_val, k_gen, rerank_sim) and
of the QM9 retrieval row (:mod:`~mspectmol.structure.isomers`: library_qm9_n, prefilter: every
QM9 isomer of the formula, pre-filtered by functional groups, ranked with the fast NMR
recipe; the same test molecules as the re-ranking rows; retrieval, not de novo);
and of the evidence generator's de novo rows (:mod:`~mspectmol.structure.prior_benchmark`:
prior_draws, prior_temperature, prior_model, prior_n; the same test molecules);
``--set only=rerank`` runs only the settings whose names start with ``rerank`` (comma-separated
prefixes; ``only=library_qm9`` the QM9 rows, ``only=denovo_prior`` the generator's).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import ConfigError

log = logging.getLogger("mspectmol.benchmark")

DEFAULTS = {"n_test": 200, "n_val": 150, "n_mces": 40, "k": 10, "epochs": 8,
            "minutes": 14.0, "max_heavy": 9}
QUICK = {"n_test": 6, "n_val": 4, "n_mces": 2, "k": 3, "epochs": 1, "minutes": 0.0,
         "max_heavy": 9, "max_train": 48}
TINY = {"d_model": 32, "n_heads": 2, "n_decoder_layers": 1, "ff_dim": 64, "max_len": 48}
INPUTS = {"IR+1H+13C": (True, True, True), "IR": (True, False, False)}
COLUMNS = ("setting", "method", "spectra", "formula", "n", "top1", "top5", "top10", "valid",
           "tanimoto@1", "tanimoto@10", "n_mces", "mces@1", "mces_score@1", "mces@10",
           "mces_score@10")


def _options(args: Any) -> dict[str, Any]:
    from mspectmol.structure.isomer_benchmark import QM9_DEFAULTS, QM9_QUICK
    from mspectmol.structure.prior_benchmark import PRIOR_DEFAULTS, PRIOR_QUICK
    from mspectmol.structure.rerank import RERANK_DEFAULTS, RERANK_QUICK

    opts = {**(QUICK if args.quick else DEFAULTS),
            **(RERANK_QUICK if args.quick else RERANK_DEFAULTS),
            **(QM9_QUICK if args.quick else QM9_DEFAULTS),
            **(PRIOR_QUICK if args.quick else PRIOR_DEFAULTS)}
    for item in getattr(args, "overrides", None) or []:
        key, sep, value = item.partition("=")
        if not sep or key not in opts:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with KEY in "
                              f"{', '.join(sorted(opts))}")
        opts[key] = type(opts[key])(value)
    if args.epochs is not None:
        opts["epochs"] = int(args.epochs)
    if args.max_train:
        opts["max_train"] = int(args.max_train)
    return opts


def _pick(idx: np.ndarray, n: int, seed: int) -> np.ndarray:
    if idx.size <= n:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))


def _model(variant: str, ctx: dict[str, Any]) -> Any:
    """Load (or train and save) a variant's model; returns an Elucidator."""
    from mspectmol.structure.elucidation import Elucidator
    from mspectmol.structure.io import load_structure_model
    from mspectmol.structure.pipeline import train_variant
    from mspectmol.structure.pretrained import DEFAULT_STRUCTURE_MODEL
    from mspectmol.structure.training import TrainSettings

    opts, out = ctx["opts"], ctx["out"] / "models" / variant
    shipped = DEFAULT_STRUCTURE_MODEL / "model.json"
    if variant == "pa_ib" and not ctx["quick"] and shipped.is_file():
        out = DEFAULT_STRUCTURE_MODEL
    if not (out / "model.json").is_file():
        settings = TrainSettings(epochs=opts["epochs"], max_minutes=opts["minutes"],
                                 seed=ctx["seed"])
        log.info("training the %s structure model (%d epochs)", variant, opts["epochs"])
        train_variant(ctx["ds"], variant, ctx["encoder"], ctx["ref"], out, settings,
                      max_train=opts.get("max_train", 0), size=TINY if ctx["quick"] else None)
    model, vocab, meta = load_structure_model(out)
    ctx["trained"][variant] = {"path": str(out), **{k: meta.training.get(k) for k in
                                                    ("n_train", "best_val_loss")},
                               "epochs": len(meta.training.get("epochs", []))}
    return Elucidator(model, vocab, meta, ctx["encoder"])


def _masked(spectra: dict[str, np.ndarray], use: tuple[bool, ...], mods: tuple[str, ...]
            ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    n = len(next(iter(spectra.values())))
    avail = np.tile(np.asarray(use, dtype=bool), (n, 1))
    return {m: spectra[m] if u else np.zeros_like(spectra[m])
            for m, u in zip(mods, use, strict=True)}, avail


def _score(name: str, info: dict[str, Any], lists: list[list[str]], ctx: dict[str, Any],
           mces_k: tuple[int, ...]) -> dict[str, Any]:
    from mspectmol.structure.metrics import candidate_metrics, top_k_accuracy

    truths = ctx["truths"]
    per = [candidate_metrics(c, t, (1, 5, 10), with_mces=False)
           for c, t in zip(lists, truths, strict=True)]
    ranks = [p["rank"] for p in per]
    valid = [p["valid"] for p in per if not np.isnan(p["valid"])]
    row = {"setting": name, **info, "n": len(lists),
           **{f"top{k}": top_k_accuracy(ranks, k) for k in (1, 5, 10)},
           "valid": float(np.mean(valid)) if valid else float("nan"),
           "tanimoto@1": float(np.mean([p["tanimoto@1"] for p in per])),
           "tanimoto@10": float(np.mean([p["tanimoto@10"] for p in per]))}
    sub = ctx["mces_rows"]
    row["n_mces"] = len(sub)
    for k in mces_k:
        dists, scores = [], []
        for i in sub:
            m = _mces_at(lists[i][:k], truths[i], ctx["mces_cache"])
            dists.append(m)
            scores.append(_mces_score(m, truths[i]))
        row[f"mces@{k}"], row[f"mces_score@{k}"] = float(np.mean(dists)), float(np.mean(scores))
    row["candidates"] = lists
    return row


def _mces_at(cands: list[str], truth: str, cache: dict[tuple[str, str], float]) -> float:
    from mspectmol.structure.metrics import MCES_INVALID, inchikey_block, mces

    best = MCES_INVALID
    key = inchikey_block(truth)
    for c in cands:
        if inchikey_block(c) == key:
            return 0.0
        if (c, truth) not in cache:
            cache[(c, truth)] = mces(c, truth)
        best = min(best, cache[(c, truth)])
    return best


def _mces_score(distance: float, truth: str) -> float:
    from mspectmol.chem.molecules import heavy_atom_count
    from mspectmol.structure.metrics import mces_score

    return mces_score(distance, heavy_atom_count(truth))


def _small(seed: int, opts: dict[str, Any], path: Any) -> Any:
    """A few molecules of each scaffold part (``--quick``), broadened without loading the
    whole dataset."""
    import pyarrow.parquet as pq

    from mspectmol.data.dataset import EMBEDDED_DIR, EmbeddedDataset
    from mspectmol.spectra.preprocessing import canonical_grid
    from mspectmol.structure.library import embedded_spectra
    from mspectmol.structure.pipeline import MODALITIES

    index = pq.read_table(Path(path or EMBEDDED_DIR) / "index.parquet")
    split = np.asarray(index.column("split_scaffold").to_pylist())
    heavy = index.column("heavy_atoms").to_numpy()
    small = heavy <= opts["max_heavy"]
    parts = {"train": opts.get("max_train", 48), "val": 3 * opts["n_val"],
             "test": 3 * opts["n_test"]}
    keep = np.sort(np.concatenate([_pick(np.flatnonzero((split == p) & small), n, seed)
                                   for p, n in parts.items()]))
    ids = np.asarray(index.column("id").to_pylist())[keep]
    grids = {m: canonical_grid(m, 600) for m in MODALITIES}
    spectra = embedded_spectra(list(ids), grids)
    labels = np.asarray(index.column("labels").to_pylist(), dtype=np.uint8)[keep]
    return EmbeddedDataset(
        ids=ids, smiles=np.asarray(index.column("smiles").to_pylist())[keep],
        source=np.asarray(index.column("source").to_pylist())[keep], heavy_atoms=heavy[keep],
        labels=labels, spectra={m: np.stack([spectra[i][m] for i in ids]) for m in MODALITIES},
        grids=grids, splits={"scaffold": split[keep]})


def _denovo(variant: str, inputs: str, with_formula: bool, ctx: dict[str, Any]
            ) -> list[list[str]]:
    key = (variant, inputs)
    eluc = ctx["elucidators"].setdefault(variant, None) or _model(variant, ctx)
    ctx["elucidators"][variant] = eluc
    if key not in ctx["features"]:
        spectra, avail = _masked(ctx["test_spectra"], INPUTS[inputs], ctx["mods"])
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


def run_suite(args: Any) -> int:
    """Run (or resume) the structure suite and write results.json/.csv and table.md."""
    import torch

    from mspectmol.data.dataset import load_dataset
    from mspectmol.structure.library import (
        formula_groups,
        library_cases,
        ranked_lists,
        select_weights,
    )
    from mspectmol.structure.pipeline import MODALITIES, encoder_reference
    from mspectmol.structure.tokens import smiles_formula

    opts = _options(args)
    torch.set_num_threads(int(args.threads or 1))
    out = Path(args.out or Path("benchmarks") / "results" / "structure")
    seed = int((args.seeds or [0])[0])
    ds = (_small(seed, opts, args.data) if args.quick
          else load_dataset(MODALITIES, path=args.data))
    encoder, ref = encoder_reference(None)
    test = ds.split_indices("scaffold", "test")
    test = _pick(test[ds.heavy_atoms[test] <= opts["max_heavy"]], opts["n_test"], seed)
    val = ds.split_indices("scaffold", "val")
    val = _pick(val[ds.heavy_atoms[val] <= opts["max_heavy"]], opts["n_val"], seed + 1)
    from mspectmol.structure.tokens import canonical

    truths = [canonical(str(s)) for s in ds.smiles[test]]
    ctx: dict[str, Any] = {
        "opts": opts, "out": out, "seed": seed, "ds": ds, "encoder": encoder, "ref": ref,
        "quick": bool(args.quick), "mods": MODALITIES, "truths": truths,
        "formulas": [smiles_formula(s) for s in truths], "elucidators": {}, "features": {},
        "test_spectra": {m: ds.spectra[m][test] for m in MODALITIES}, "trained": {},
        "beam_stats": {}, "mces_cache": {}, "library": formula_groups(ds.smiles),
        "mces_rows": list(range(min(opts["n_mces"], len(test)))), "test": test, "val": val}
    (out / "runs").mkdir(parents=True, exist_ok=True)
    plan: list[tuple[str, dict[str, Any], Any, tuple[int, ...]]] = []
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
    chosen: dict[str, Any] = {}

    def library(perturbed: bool, terms: tuple[str, ...]) -> list[list[str]]:
        tag = f"{'perturbed' if perturbed else 'clean'}/{'+'.join(terms)}"
        eluc = ctx["elucidators"].get("pa_ib") or _model("pa_ib", ctx)
        ctx["elucidators"]["pa_ib"] = eluc
        cases = library_cases(eluc, ds, val, ctx["library"], perturbed=True, seed=seed + 11)
        weights, score = select_weights(cases, terms)
        chosen[tag] = {**weights.to_dict(), **{f"val_{k}": v for k, v in score.items()}}
        return ranked_lists(library_cases(eluc, ds, test, ctx["library"],
                                          perturbed=perturbed, seed=seed + 13), weights)

    for perturbed, terms, mk in ((False, ("ll", "fg", "spec"), (1,)),
                                 (True, ("ll", "fg", "spec"), (1, 10)),
                                 (True, ("ll", "fg"), (1,))):
        name = f"library/{'perturbed' if perturbed else 'clean'}/{'+'.join(terms)}"
        plan.append((name, {"method": f"library search ({'+'.join(terms)}, "
                             f"{'perturbed' if perturbed else 'clean'} spectra)",
                            "spectra": "IR+1H+13C", "formula": True},
                     lambda p=perturbed, t=terms: library(p, t), mk))
    from mspectmol.structure import isomer_benchmark as isomers
    from mspectmol.structure import prior_benchmark as prior
    from mspectmol.structure import rerank

    own = {**rerank.RERANK_DEFAULTS, **isomers.QM9_DEFAULTS, **prior.PRIOR_DEFAULTS}
    settings_key = {**{k: v for k, v in opts.items()  # each row family keys its own options
                       if k not in own},
                    "seed": seed, "test": [int(i) for i in test]}

    def pa_ib() -> Any:
        ctx["elucidators"]["pa_ib"] = ctx["elucidators"].get("pa_ib") or _model("pa_ib", ctx)
        return ctx["elucidators"]["pa_ib"]

    keys = {}
    # the QM9 and generator rows reuse rerank's subset
    for planner in (rerank.plan_rows, isomers.plan_rows, prior.plan_rows):
        for name, info, fn, mk, key in planner(ctx, pa_ib, settings_key):
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
        row = lists if isinstance(lists, dict) else _score(name, info, lists, ctx, mces_k)
        if "last_valid" in ctx:  # de novo: validity of every beam hypothesis
            row["valid"] = float(ctx.pop("last_valid"))
        row["seconds"] = time.perf_counter() - started
        log.info("%s: top1 %.3f top10 %.3f (%.0f s)", name, row["top1"], row["top10"],
                 row["seconds"])
        doc = {"settings": keys.get(name, settings_key), "row": row, "weights": chosen,
               "models": ctx["trained"], "beam": ctx["beam_stats"]}
        path.write_text(json.dumps(doc, indent=1, default=float) + "\n", encoding="utf-8")
        rows.append(row)
    _write_tables(out, rows, opts, len(test), seed)
    if not getattr(args, "keep_models", False) and (out / "models").is_dir():
        import shutil

        shutil.rmtree(out / "models")  # every setting is in runs/; --keep-models keeps them
    print(f"structure suite: {len(rows)} settings on {len(test)} test molecules; "
          f"tables in {out}")
    return 0


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if np.isnan(v) else f"{v:.3f}"
    return "-" if v is None else str(v)


def _write_tables(out: Path, rows: list[dict[str, Any]], opts: dict[str, Any], n_test: int,
                  seed: int) -> None:
    from mspectmol.structure import isomer_benchmark as isomers
    from mspectmol.structure import prior_benchmark as prior
    from mspectmol.structure import rerank

    flat = [{c: r.get(c) for c in COLUMNS} for r in rows]
    (out / "results.json").write_text(json.dumps({"options": opts, "seed": seed,
                                                  "rows": flat}, indent=1) + "\n",
                                      encoding="utf-8")
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(flat)
    lines = [f"# Structure elucidation (scaffold split, {n_test} held-out molecules with "
             f"at most {opts['max_heavy']} heavy atoms, seed {seed})", "",
             "Top-k by InChIKey connectivity block (stereo ignored). MCES (myopic-mces, "
             f"threshold 15, invalid = 100) on the first {opts['n_mces']} of them. Library "
             "search ranks known molecules that include the true one: not de-novo.", "",
             *([rerank.table_note(opts), ""] if any(r["setting"].startswith("rerank")
                                                    for r in flat) else []),
             *([isomers.table_note(opts), ""] if any(r["setting"].startswith("library_qm9")
                                                     for r in flat) else []),
             *([prior.table_note(opts), ""] if any(r["setting"].startswith(prior.PREFIX)
                                                   for r in flat) else []),
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in COLUMNS) + " |" for r in flat]
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
