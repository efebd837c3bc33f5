"""Build or extend mspectmol's embedded dataset (resumable, chunk by chunk).

    python scripts/build_dataset.py plan              # draw the molecules -> plan.csv
    python scripts/build_dataset.py plan-v2           # drug-size part -> v2/plan.csv
    python scripts/build_dataset.py build --max-chunks 1   # simulate the next chunk
    python scripts/build_dataset.py finalize          # index.parquet: labels and splits
    python scripts/build_dataset.py card              # docs/data_card.md
    python scripts/build_dataset.py status

Finished chunks land in src/mspectmol/data/embedded/chunks/ (``--part v2``:
src/mspectmol/data/embedded/v2/chunks/, with per-atom NMR columns) and can be committed as they
complete; the simulation cache (.cache/simulate by default) makes an interrupted chunk resume.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mspectmol.data.build import (
    EMBEDDED_DIR,
    V2_DIR,
    build_chunks,
    chunk_plan,
    finalize_index,
    make_plan,
    make_plan_v2,
    read_plan,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["plan", "plan-v2", "build", "finalize", "card",
                                         "status"])
    parser.add_argument("--part", choices=["v1", "v2"], default="v1",
                        help="v1: the QM9-size part; v2: the drug-size part (own folder)")
    parser.add_argument("--out", type=Path, default=None,
                        help="dataset folder (default: the part's folder in the package)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/simulate"))
    parser.add_argument("--wheels", type=Path, default=Path(".cache/wheels"))
    parser.add_argument("--max-chunks", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--card", type=Path, default=Path("docs/data_card.md"))
    parser.add_argument("--card-extra", type=Path,
                        default=Path("benchmarks/results/simulator.md"),
                        help="markdown included in the card (simulator benchmark output)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.step == "plan-v2":
        args.part = "v2"
    if args.out is None:
        args.out = V2_DIR if args.part == "v2" else EMBEDDED_DIR
    if args.step == "plan-v2":
        plan = make_plan_v2(args.out, wheel_cache=args.wheels)
        print(f"planned {len(plan)} molecules -> {args.out / 'plan.csv'}")
    elif args.step == "plan":
        plan = make_plan(args.out, wheel_cache=args.wheels)
        print(f"planned {len(plan)} molecules -> {args.out / 'plan.csv'}")
    elif args.step == "build":
        for path in build_chunks(args.out, args.cache, chunk_size=args.chunk_size,
                                 n_workers=args.workers, max_chunks=args.max_chunks,
                                 atom_nmr=args.part == "v2"):
            print(path)
    elif args.step == "finalize":
        print(finalize_index(args.out))
    elif args.step == "card":
        from mspectmol.data.card import render_data_card

        args.card.parent.mkdir(parents=True, exist_ok=True)
        args.card.write_text(render_data_card(args.out, args.card_extra), encoding="utf-8")
        print(args.card)
    else:
        plan = read_plan(args.out)
        chunks = list(chunk_plan(plan, args.chunk_size))
        done = [n for n, _ in chunks if (args.out / "chunks" / f"{n}.parquet").is_file()]
        print(f"{len(plan)} molecules in {len(chunks)} chunks; {len(done)} chunks done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
