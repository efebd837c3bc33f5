"""Build or extend mspectmol's embedded dataset (resumable, chunk by chunk).

    python scripts/build_dataset.py plan              # draw the molecules -> plan.csv
    python scripts/build_dataset.py plan-v2           # drug-size part -> v2/plan.csv
    python scripts/build_dataset.py build --max-chunks 1   # simulate the next chunk
    python scripts/build_dataset.py finalize          # index.parquet: labels and splits
    python scripts/build_dataset.py finalize-v2       # v2/index.parquet: v1 + chunks built
    python scripts/build_dataset.py plan-conformers   # conformer subset -> v2/conformers/
    python scripts/build_dataset.py build-conformers --max-chunks 1
    python scripts/build_dataset.py atom-nmr          # per-atom NMR columns for v1 chunks
    python scripts/build_dataset.py card              # docs/data_card.md (v1 and v2)
    python scripts/build_dataset.py status [--part v2 | --part conformers]

Finished chunks land in src/mspectmol/data/embedded/chunks/ (``--part v2``:
src/mspectmol/data/embedded/v2/chunks/, with per-atom NMR columns) and can be committed as they
complete; the simulation cache (.cache/simulate by default) makes an interrupted chunk resume.
``finalize-v2`` (or ``finalize --part v2``) indexes the drug-size chunks present, so it can be
run while the build goes on. The conformer subset's chunks land in
src/mspectmol/data/embedded/v2/conformers/chunks/; each molecule is cached in
.cache/conformers as soon as it is done.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mspectmol.data.atom_nmr_backfill import backfill_atom_nmr
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
from mspectmol.data.build_v2 import V2_CHUNK_SIZE, finalize_index_v2, part_status
from mspectmol.data.conformer_set import (
    CONFORMER_DIR,
    build_conformers,
    conformer_chunks,
    plan_conformers,
    read_conformer_plan,
)

#: Default molecules per chunk of each part.
CHUNK_SIZES = {"v1": 200, "v2": V2_CHUNK_SIZE, "conformers": 10}
STEPS = ["plan", "plan-v2", "build", "finalize", "finalize-v2", "plan-conformers",
         "build-conformers", "atom-nmr", "card", "status"]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("--part", choices=["v1", "v2", "conformers"], default="v1",
                        help="v1: the QM9-size part; v2: the drug-size part (own folder); "
                             "conformers: v2's conformer-resolved subset")
    parser.add_argument("--out", type=Path, default=None,
                        help="dataset folder (default: the part's folder in the package)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="simulation cache (default .cache/simulate; conformers: "
                             ".cache/conformers)")
    parser.add_argument("--wheels", type=Path, default=Path(".cache/wheels"))
    parser.add_argument("--max-chunks", type=int, default=None)
    parser.add_argument("--max-molecules", type=int, default=None,
                        help="build-conformers: simulate at most this many molecules")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="molecules per chunk (default: v1 200, v2 50, conformers 10)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--card", type=Path, default=Path("docs/data_card.md"))
    parser.add_argument("--card-extra", type=Path,
                        default=Path("benchmarks/results/simulator.md"),
                        help="markdown included in the card (simulator benchmark output)")
    args = parser.parse_args()
    if args.step in ("plan-v2", "finalize-v2"):
        args.part = "v2"
    if args.step in ("plan-conformers", "build-conformers"):
        args.part = "conformers"
    if args.out is None:
        args.out = {"v1": EMBEDDED_DIR, "v2": V2_DIR, "conformers": CONFORMER_DIR}[args.part]
    if args.cache is None:
        args.cache = Path(".cache/conformers" if args.part == "conformers"
                          else ".cache/simulate")
    if args.chunk_size is None:
        args.chunk_size = CHUNK_SIZES[args.part]
    return args


def _status(args: argparse.Namespace) -> str:
    if args.part == "conformers":
        plan = read_conformer_plan(args.out)
        chunks = list(conformer_chunks(plan, args.chunk_size))
        done = [n for n, _ in chunks if (args.out / "chunks" / f"{n}.parquet").is_file()]
        return f"{len(plan)} molecules in {len(chunks)} chunks; {len(done)} chunks done"
    if args.part == "v2":
        s = part_status(args.out, args.chunk_size)
        return (f"{s.planned} molecules in {s.chunks_planned} chunks; {s.chunks_done} chunks "
                f"done: {s.built} molecules simulated, {s.failed} failed")
    plan = read_plan(args.out)
    chunks = list(chunk_plan(plan, args.chunk_size))
    done = [n for n, _ in chunks if (args.out / "chunks" / f"{n}.parquet").is_file()]
    return f"{len(plan)} molecules in {len(chunks)} chunks; {len(done)} chunks done"


def main() -> int:
    args = _parse()
    # the build's own progress only: ASE's line search logs every step at INFO
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("mspectmol").setLevel(logging.INFO)
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
    elif args.step == "finalize" and args.part == "v1":
        print(finalize_index(args.out))
    elif args.step in ("finalize", "finalize-v2"):
        print(finalize_index_v2(args.out, chunk_size=args.chunk_size))
        print(_status(args))
    elif args.step == "plan-conformers":
        entries = plan_conformers(out_dir=args.out)
        print(f"planned {len(entries)} flexible molecules -> {args.out / 'plan.csv'}")
    elif args.step == "build-conformers":
        started = time.perf_counter()
        for path in build_conformers(args.out, args.cache, chunk_size=args.chunk_size,
                                     n_workers=args.workers, max_chunks=args.max_chunks,
                                     max_molecules=args.max_molecules):
            print(path)
        print(f"{time.perf_counter() - started:.0f} s")
    elif args.step == "atom-nmr":
        for path in backfill_atom_nmr(args.out / "chunks", n_workers=args.workers,
                                      max_chunks=args.max_chunks):
            print(path)
    elif args.step == "card":
        from mspectmol.data.card import render_data_card

        args.card.parent.mkdir(parents=True, exist_ok=True)
        v1 = args.out if args.part == "v1" else EMBEDDED_DIR
        args.card.write_text(render_data_card(v1, args.card_extra, V2_DIR), encoding="utf-8")
        print(args.card)
    else:
        print(_status(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
