"""How often the structure generator draws the true structure, on validation molecules.

The de novo pipeline can only rank what the generator proposes, so the share of molecules
whose true structure is among the draws bounds its accuracy. This measures that share on a
seeded sample of the scaffold split's validation molecules (at most 9 heavy atoms, as the
benchmark's test molecules), IR + 1H + 13C evidence and formula, for each number of draws
asked; no simulation. Also reported: the median number of times the truth was drawn and
of distinct structures drawn, and the sampling time. Test molecules are never read.

    python scripts/prior_coverage.py [--generator DIR] [--n 40] [--draws 1000 2000] [--out F]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", type=Path, default=None)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--draws", type=int, nargs="+", default=[2000])
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the result (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mspectmol.structure.denovo import Generator
    from mspectmol.structure.metrics import hit_rank
    from mspectmol.structure.prior_benchmark import validation_sample
    from mspectmol.structure.tokens import canonical, smiles_formula

    case = validation_sample(args.n, args.seed)
    ds, rows, eluc, spectra, probs = (case[k] for k in ("ds", "rows", "eluc", "spectra",
                                                        "probs"))
    gen = Generator.load(args.generator)
    result = {"generator": str(args.generator or "packaged"), "n": len(rows),
              "temperature": args.temperature, "draws": {}}
    for n_draws in args.draws:
        started, drawn, distinct, truth_counts = time.perf_counter(), [], [], []
        for j, i in enumerate(rows):
            truth = canonical(str(ds.smiles[i]))
            observed = {m: spectra[m][j] for m in eluc.modalities}
            out = gen.sample(probs[j], observed, ds.grids, smiles_formula(truth), n=n_draws,
                             temperature=args.temperature, seed=j)
            rank = hit_rank(out.smiles, truth)
            drawn.append(rank is not None)
            distinct.append(len(out.smiles))
            truth_counts.append(out.count_map().get(truth, 0))
        result["draws"][n_draws] = {
            "truth_drawn": int(np.sum(drawn)), "mean_distinct": float(np.mean(distinct)),
            "median_distinct": float(np.median(distinct)),
            "median_truth_count": float(np.median(truth_counts)),
            "seconds_per_molecule": (time.perf_counter() - started) / len(rows)}
        print(json.dumps({n_draws: result["draws"][n_draws]}), flush=True)
    print(json.dumps(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
