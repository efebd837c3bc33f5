"""Ranking terms of the generated candidates on validation molecules, and weights chosen on them.

The de novo pipeline ranks what the structure generator draws by ``fg`` and ``spec`` (see
:mod:`mspectmol.structure.isomers`). The generator itself also says how plausible each
structure is under the evidence: how often it was drawn. This script records, for a seeded
sample of the scaffold split's validation molecules (at most 9 heavy atoms, as the
benchmark's test molecules; IR + 1H + 13C + formula), every candidate the benchmark's
pipeline keeps, with its terms and draw count, one JSON line per molecule (resumable: finished
molecules are skipped). ``--choose`` then scores each weight of the draw-count term on those
molecules. Test molecules are never read.

    python scripts/prior_rank_terms.py --out benchmarks/results/structure-prior-val [--n 40]
    python scripts/prior_rank_terms.py --out benchmarks/results/structure-prior-val --choose
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

TERMS = "terms.jsonl"


def collect(args: argparse.Namespace) -> None:
    from mspectmol.structure.denovo import Generator, generated_index
    from mspectmol.structure.isomers import fast_nmr_spectra, rank_isomers
    from mspectmol.structure.metrics import hit_rank
    from mspectmol.structure.prior_benchmark import validation_sample
    from mspectmol.structure.tokens import canonical, smiles_formula

    out = args.out / TERMS
    done = set()
    if out.is_file():
        done = {json.loads(line)["row"] for line in out.read_text().splitlines() if line}
    case = validation_sample(args.n, args.seed)
    ds, rows, eluc, spectra, probs = (case[k] for k in ("ds", "rows", "eluc", "spectra",
                                                        "probs"))
    gen = Generator.load(args.generator)
    avail = np.ones(len(eluc.modalities), dtype=bool)
    feats = eluc.features(spectra)
    sim = fast_nmr_spectra({m: ds.grids[m] for m in eluc.modalities}, jobs=args.jobs)
    args.out.mkdir(parents=True, exist_ok=True)
    for j, i in enumerate(rows):
        if int(i) in done:
            continue
        t0 = time.perf_counter()
        truth = canonical(str(ds.smiles[i]))
        formula = smiles_formula(truth)
        observed = {m: spectra[m][j] for m in eluc.modalities}
        sampled = gen.sample(probs[j], observed, ds.grids, formula, n=args.draws,
                             temperature=1.0, seed=j)
        count = sampled.count_map()
        log_prob = dict(zip(sampled.smiles, sampled.log_probs, strict=True))
        cands = []
        if sampled.smiles:
            ranked, kept = rank_isomers(eluc, observed, avail, formula,
                                     index=generated_index(sampled, formula), simulated=sim,
                                     features=feats[j], probabilities=probs[j],
                                     source="generated", n_keep=args.prefilter)
            c13 = dict(zip(kept.smiles, kept.c13_mismatch.tolist(), strict=True))
            h1 = dict(zip(kept.smiles, kept.h1_mismatch.tolist(), strict=True))
            pre = {s: k for k, s in enumerate(kept.smiles)}  # place in the pre-filter's order
            cands = [{"smiles": r.smiles, "fg": r.fg, "spec": r.spec, "ll": r.ll,
                      "c13": c13[r.smiles], "h1": h1[r.smiles], "pre": pre[r.smiles],
                      "count": int(count.get(r.smiles, 0)),
                      "log_prob": float(log_prob.get(r.smiles, float("nan"))),
                      "truth": hit_rank([r.smiles], truth) == 0} for r in ranked]
        record = {"row": int(i), "formula": formula, "draws": args.draws,
                  "prefilter": args.prefilter,
                  "truth_drawn": hit_rank(sampled.smiles, truth) is not None,
                  "candidates": cands, "seconds": time.perf_counter() - t0}
        with out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(f"{j + 1}/{len(rows)} {formula}: {len(cands)} kept, truth rank "
              f"{next((k + 1 for k, c in enumerate(cands) if c['truth']), None)} "
              f"({record['seconds']:.0f} s)", flush=True)
    sim.close()


def choose(args: argparse.Namespace) -> None:
    """Score every weight combination of the extra terms on the recorded molecules."""
    import itertools

    from mspectmol.structure.isomers import FAST_NMR_WEIGHTS

    records = [json.loads(line) for line in (args.out / TERMS).read_text().splitlines() if line]
    drawn = sum(r["truth_drawn"] for r in records)
    kept = sum(any(c["truth"] for c in r["candidates"]) for r in records)
    print(f"{len(records)} validation molecules; truth drawn {drawn}, kept {kept}")
    results = []
    for gen, c13, h1 in itertools.product(args.weights, args.region_weights,
                                          args.region_weights):
        results.append((_tops(records, FAST_NMR_WEIGHTS, gen, c13, h1), (gen, c13, h1)))
    print("gen   c13   h1    top1  top5  top10  mrr")
    base = next(r for r in results if r[1] == (0, 0, 0))
    for tops, w in [base, *sorted(results, key=lambda r: (-r[0][0], -r[0][3]))[:args.show]]:
        print(f"{w[0]:<5g} {w[1]:<5g} {w[2]:<5g} " + " ".join(f"{t:.3f}" for t in tops))


def _tops(records: list[dict], w, gen: float, c13: float, h1: float) -> list[float]:
    """Top-1/5/10 and mean reciprocal rank of the truth when the ranking's score (``w`` with
    ``gen``) also subtracts ``c13 * c13_mismatch + h1 * h1_mismatch``."""
    from dataclasses import replace

    from mspectmol.structure.ranking import combine, rank_order

    weights, ranks = replace(w, gen=gen), []
    for r in records:
        c = r["candidates"]
        if not c:
            ranks.append(None)
            continue
        col = {k: np.array([x[k] for x in c], dtype=float)
               for k in ("fg", "spec", "ll", "count", "c13", "h1")}
        terms = {"ll": col["ll"], "fg": col["fg"], "spec": col["spec"],
                 "gen": np.log1p(col["count"])}
        score = combine(terms, weights) - c13 * col["c13"] - h1 * col["h1"]
        ranks.append(next((k for k, o in enumerate(rank_order(score)) if c[o]["truth"]), None))
    out = [float(np.mean([x is not None and x < k for x in ranks])) for k in (1, 5, 10)]
    return [*out, float(np.mean([0 if x is None else 1 / (x + 1) for x in ranks]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--generator", type=Path, default=None)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--prefilter", type=int, default=200,
                        help="candidates kept by the pre-filter (default 200)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--choose", action="store_true")
    parser.add_argument("--weights", type=float, nargs="+",
                        default=[0, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5])
    parser.add_argument("--region-weights", type=float, nargs="+", default=[0, 0.5, 1, 2])
    parser.add_argument("--show", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    choose(args) if args.choose else collect(args)


if __name__ == "__main__":
    main()
