"""Full-recipe spectral distances of the best generated candidates on validation molecules.

The de novo pipeline ranks what the structure generator draws with the fast NMR-only
simulation (:mod:`mspectmol.structure.isomers`). A second stage can simulate the best ``k``
of that ranking with the full GFN2-xTB + CSP5 recipe (IR, 1H and 13C) and re-rank them
(:mod:`mspectmol.structure.refine`). This script takes the candidates recorded by
``scripts/prior_rank_terms.py`` (same folder), ranks them with
:data:`~mspectmol.structure.isomers.GENERATED_WEIGHTS`, simulates the best ``--k`` with the
full recipe (cached like every simulation) and records each one's cosine distance to the
observed spectrum per modality and smoothing, one JSON line per molecule (resumable).
``--choose`` then scores the second stage's weight and smoothing on those molecules. With
records of a larger pre-filter (``prior_rank_terms.py --prefilter 400``, which records each
candidate's place in the pre-filter's order), ``--prefilters 200`` also refines the best
``k`` among the first 200, so that ``--choose`` compares both pre-filter sizes. Test
molecules are never read.

    python scripts/prior_refine_terms.py --out benchmarks/results/structure-prior-val [--k 20]
    python scripts/prior_refine_terms.py --out benchmarks/results/structure-prior-val --choose
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

TERMS = "terms.jsonl"
REFINE = "refine.jsonl"
SMOOTHS = (0.0, 2.0, 5.0, 10.0)


def _stage1(record: dict) -> list[dict]:
    """The recorded candidates in the order of the de novo ranking (``GENERATED_WEIGHTS``)."""
    from mspectmol.structure.isomers import GENERATED_WEIGHTS
    from mspectmol.structure.ranking import combine, rank_order

    c = record["candidates"]
    if not c:
        return []
    terms = {k: np.array([x[k] for x in c], dtype=float) for k in ("ll", "fg", "spec")}
    terms["gen"] = np.log1p(np.array([x["count"] for x in c], dtype=float))
    score = combine(terms, GENERATED_WEIGHTS)
    return [{**c[i], "score": float(score[i])} for i in rank_order(score)]


def collect(args: argparse.Namespace) -> None:
    from mspectmol.data.dataset import load_dataset
    from mspectmol.structure.pipeline import MODALITIES
    from mspectmol.structure.ranking import SimulatedSpectra, spectral_distance

    records = [json.loads(x) for x in (args.out / TERMS).read_text().splitlines() if x]
    out = args.out / REFINE
    done = set()
    if out.is_file():
        done = {json.loads(x)["row"] for x in out.read_text().splitlines() if x}
    ds = load_dataset(MODALITIES)
    mods = ("ir", "h_nmr", "c_nmr")
    sim = SimulatedSpectra({m: ds.grids[m] for m in mods}, remember_failures=True,
                           jobs=args.jobs)
    for n, record in enumerate(records):
        if record["row"] in done:
            continue
        t0 = time.perf_counter()
        ranked = _stage1(record)
        top = ranked[:args.k]
        for cap in args.prefilters:  # also the best k of each smaller pre-filter
            top += [c for c in ranked if c.get("pre", 0) < cap][:args.k]
        top = list({c["smiles"]: c for c in top}.values())
        observed = {m: ds.spectra[m][record["row"]] for m in mods}
        cands = []
        for cand, spectra in zip(top, sim.get_many([c["smiles"] for c in top]), strict=True):
            dist = None if spectra is None else {
                f"{m}@{s:g}": spectral_distance({m: observed[m]}, spectra, smooth=s)
                for m in mods for s in SMOOTHS}
            cands.append({"smiles": cand["smiles"], "score": cand["score"],
                          "pre": cand.get("pre"), "truth": cand["truth"], "dist": dist})
        line = {"row": record["row"], "formula": record["formula"], "k": args.k,
                "candidates": cands, "seconds": time.perf_counter() - t0}
        with out.open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        truth = next((i + 1 for i, c in enumerate(cands) if c["truth"]), None)
        print(f"{n + 1}/{len(records)} {record['formula']}: truth stage-1 rank {truth} "
              f"({line['seconds']:.0f} s)", flush=True)
    sim.close()


def full_distance(dist: dict | None, mods: tuple[str, ...], smooth: float) -> float:
    """Mean distance over ``mods`` at ``smooth`` (1, the largest, for a failed simulation)."""
    if dist is None:
        return 1.0
    return float(np.mean([dist[f"{m}@{smooth:g}"] for m in mods]))


def choose(args: argparse.Namespace) -> None:
    """Top-k of the truth for each weight, smoothing and modality set of the second stage."""
    import itertools

    lines = [json.loads(x) for x in (args.out / REFINE).read_text().splitlines() if x]
    sets = {"IR+1H+13C": ("ir", "h_nmr", "c_nmr"), "1H+13C": ("h_nmr", "c_nmr"),
            "IR": ("ir",)}
    print(f"{len(lines)} validation molecules; truth in the stage-1 top {lines[0]['k']}: "
          f"{sum(any(c['truth'] for c in x['candidates']) for x in lines)}")
    print("spectra     smooth weight  prefilter  k   top1  top5  top10")
    caps = sorted({*args.prefilters, 10**9})
    rows = []
    for (name, mods), smooth, w, cap, k in itertools.product(
            sets.items(), SMOOTHS, args.weights, caps, args.ks):
        ranks = []
        for x in lines:
            c = [e for e in x["candidates"] if (e.get("pre") or 0) < cap]
            c = sorted(c, key=lambda e: -e["score"])[:k]  # the first stage's best k
            score = np.array([e["score"] - w * full_distance(e["dist"], mods, smooth)
                              for e in c])
            order = np.argsort(-score, kind="stable")
            ranks.append(next((i for i, o in enumerate(order) if c[o]["truth"]), None))
        tops = [float(np.mean([r is not None and r < t for r in ranks])) for t in (1, 5, 10)]
        rows.append((name, smooth, w, cap, k, tops))
    best = sorted(rows, key=lambda r: (-r[5][0], -r[5][1], r[3], r[4]))[:args.show]
    for name, smooth, w, cap, k, tops in best:
        cap_text = "all" if cap == 10**9 else str(cap)
        print(f"{name:<11} {smooth:<6g} {w:<7g} {cap_text:<10} {k:<3d} "
              + " ".join(f"{t:.3f}" for t in tops))
    for cap in caps:
        base = next(r for r in rows if r[2] == 0 and r[3] == cap)
        print(f"without the second stage, pre-filter {'all' if cap == 10**9 else cap}: "
              f"top1 {base[5][0]:.3f}")


def robustness(args: argparse.Namespace) -> None:
    """Top-1 of the chosen second stage, for each largest whole-spectrum shift it searches
    (``--aligns``, :func:`~mspectmol.structure.refine.aligned_distance`), when the observed
    spectra it compares are shifted by up to ``--perturb`` grid points each (one shift per
    spectrum) with 5% noise, from the cached simulations of the recorded candidates (nothing
    is simulated)."""
    from mspectmol.data.dataset import load_dataset
    from mspectmol.structure import refine
    from mspectmol.structure.library import perturb
    from mspectmol.structure.pipeline import MODALITIES

    lines = [json.loads(x) for x in (args.out / REFINE).read_text().splitlines() if x]
    ds = load_dataset(MODALITIES)
    sim = refine.full_spectra(ds.grids)  # every candidate is cached: nothing is simulated
    print("rows: max shift of the observed spectra; columns: max shift searched; top-1")
    print("(a grid point: IR 6 cm-1, 1H 0.02 ppm, 13C 0.42 ppm)")
    print("perturb " + " ".join(f"{a:>6d}" for a in args.aligns))
    for level in args.perturb:
        rng, ranks = np.random.default_rng(args.seed), {a: [] for a in args.aligns}
        for x in lines:
            c = sorted(x["candidates"], key=lambda e: -e["score"])[:refine.K]
            shifted = perturb({m: ds.spectra[m][x["row"]][None]
                               for m in refine.MODALITIES}, rng, max_shift=level)
            observed = {m: z[0] for m, z in shifted.items()}
            spectra = [sim.get(e["smiles"]) for e in c]
            for align in args.aligns:
                dist = [1.0 if s is None else refine.aligned_distance(
                    observed, s, smooth=refine.SMOOTH, max_shift=align) for s in spectra]
                score = [e["score"] - refine.WEIGHT * d for e, d in zip(c, dist, strict=True)]
                order = np.argsort(-np.array(score), kind="stable")
                ranks[align].append(next((i for i, o in enumerate(order) if c[o]["truth"]),
                                         None))
        print(f"{level:<7d} " + " ".join(f"{np.mean([r == 0 for r in ranks[a]]):6.3f}"
                                         for a in args.aligns), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--choose", action="store_true")
    parser.add_argument("--weights", type=float, nargs="+",
                        default=[0, 1, 3, 10, 30, 100, 300, 1000])
    parser.add_argument("--show", type=int, default=15)
    parser.add_argument("--prefilters", type=int, nargs="*", default=[],
                        help="also refine the best k among the first N of the pre-filter's "
                             "order (to compare pre-filter sizes; needs the records' pre)")
    parser.add_argument("--perturb", type=int, nargs="*", default=[],
                        help="top-1 with the observed spectra shifted by up to these grid "
                             "points (and 5%% noise) before the second stage")
    parser.add_argument("--aligns", type=int, nargs="+", default=[0],
                        help="--perturb: largest whole-spectrum shifts the second stage "
                             "searches (grid points)")
    parser.add_argument("--seed", type=int, default=0, help="--perturb: random seed")
    parser.add_argument("--ks", type=int, nargs="+", default=[20],
                        help="--choose: candidates refined (each <= --k of the records)")
    args = parser.parse_args()
    if args.perturb:
        robustness(args)
    elif args.choose:
        choose(args)
    else:
        collect(args)


if __name__ == "__main__":
    main()
