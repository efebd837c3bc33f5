"""How often each structure generator draws the true structure, on validation molecules.

A cheap first comparison of generator models, before the full ranking pipeline
(``scripts/prior_rank_terms.py``): for the same seeded sample of the scaffold split's
validation molecules (IR + 1H + 13C + formula evidence, as the benchmark), each generator
draws ``--draws`` structures; reported are how many true structures were drawn at all, the
median draw count of the truth, the median number of distinct structures drawn, and the
sampling time per molecule (CPU). Test molecules are never read.

    python scripts/prior_draw_rate.py --generators PACKAGED path/to/model ... [--n 60]
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
    parser.add_argument("--generators", nargs="+", required=True,
                        help="model folders; PACKAGED for the shipped generator")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from mspectmol.structure.denovo import Generator
    from mspectmol.structure.prior_benchmark import validation_sample
    from mspectmol.structure.tokens import canonical, smiles_formula

    case = validation_sample(args.n, args.seed)
    ds, rows, eluc, spectra, probs = (case[k] for k in ("ds", "rows", "eluc", "spectra",
                                                        "probs"))
    table = {}
    for name in args.generators:
        gen = Generator.load(None if name == "PACKAGED" else name)
        counts, distinct, seconds = [], [], []
        for j, i in enumerate(rows):
            truth = canonical(str(ds.smiles[i]))
            observed = {m: spectra[m][j] for m in eluc.modalities}
            t0 = time.perf_counter()
            sampled = gen.sample(probs[j], observed, ds.grids, smiles_formula(truth),
                                 n=args.draws, temperature=1.0, seed=j)
            seconds.append(time.perf_counter() - t0)
            counts.append(sampled.count_map().get(truth, 0))
            distinct.append(len(sampled.smiles))
        c = np.array(counts)
        table[name] = {"molecules": len(c), "truth_drawn": int((c > 0).sum()),
                       "median_truth_count": float(np.median(c)),
                       "median_distinct": float(np.median(distinct)),
                       "seconds_per_molecule": float(np.mean(seconds))}
        print(name, json.dumps(table[name]), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"draws": args.draws, "seed": args.seed,
                                        "generators": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
