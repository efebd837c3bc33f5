"""Throughput of the spectrum simulator with N worker processes versus one.

Run on demand (not part of the tests)::

    .venv/bin/python benchmarks/bench_simulator.py --n-qm9 40 --n-drug 8 --workers 2

Two sets of molecules are simulated from their SMILES (ETKDG/MMFF conformers, GFN2-xTB
optimisation, Hessian, Raman, CSP5 NMR), each once with ``--workers`` processes and once with
one, every run with a fresh temporary cache so nothing is reused:

* ``qm9``: ``--n-qm9`` QM9 molecules (at most 9 heavy atoms) drawn with a fixed seed from the
  QM9 part of the dataset plan (``mspectmol/data/embedded/plan.csv``);
* ``drug``: well-known drugs (11-20 heavy atoms), then, for ``--n-drug`` above their number,
  the largest non-QM9 molecules of the plan.

It prints molecules per second for each run and the N-vs-1 ratio. The N-worker times include
starting the worker processes (each imports the simulator and loads the CSP5 model, a few
seconds), so the ratio approaches N only for runs much longer than that; the one-worker runs
use this process, warmed up first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mspectmol.data.build import EMBEDDED_DIR, read_plan
from mspectmol.data.simulator.runner import MoleculeTask, run_simulations
from mspectmol.data.simulator.settings import SimulationSettings

#: Well-known drugs (name, SMILES); molecular formulas checked against PubChem.
DRUGS: tuple[tuple[str, str], ...] = (
    ("aspirin", "CC(=O)Oc1ccccc1C(=O)O"),  # C9H8O4
    ("paracetamol", "CC(=O)Nc1ccc(O)cc1"),  # C8H9NO2
    ("ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"),  # C13H18O2
    ("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"),  # C8H10N4O2
    ("naproxen", "C[C@@H](C1=CC2=C(C=C1)C=C(C=C2)OC)C(=O)O"),  # C14H14O3, (S)
    ("lidocaine", "CCN(CC)CC(=O)Nc1c(C)cccc1C"),  # C14H22N2O
    ("diazepam", "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21"),  # C16H13ClN2O
    ("metoprolol", "COCCc1ccc(OCC(O)CNC(C)C)cc1"),  # C15H25NO3
)


def qm9_tasks(n: int, seed: int) -> list[MoleculeTask]:
    """``n`` QM9 molecules of the dataset plan, drawn with ``seed``."""
    plan = [e for e in read_plan(EMBEDDED_DIR) if e.source == "qm9"]
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(plan), size=min(n, len(plan)), replace=False).tolist())
    return [MoleculeTask(plan[i].id, plan[i].smiles) for i in picks]


def drug_tasks(n: int) -> list[MoleculeTask]:
    """The first ``n`` drugs of :data:`DRUGS`, then the largest non-QM9 plan molecules."""
    tasks = [MoleculeTask(name, smiles) for name, smiles in DRUGS[:n]]
    if n > len(tasks):
        others = [e for e in read_plan(EMBEDDED_DIR) if e.source != "qm9"]
        others.sort(key=lambda e: (-e.heavy_atoms, e.id))
        tasks += [MoleculeTask(e.id, e.smiles) for e in others[: n - len(tasks)]]
    return tasks


def timed_run(tasks: list[MoleculeTask], settings: SimulationSettings, workers: int
              ) -> dict[str, float]:
    """Simulate ``tasks`` with a fresh cache; return counts, seconds and molecules/s."""
    with tempfile.TemporaryDirectory(prefix="mspectmol-bench-") as cache:
        start = time.perf_counter()
        report = run_simulations(tasks, settings, cache_dir=cache, n_workers=workers,
                                 progress=False)
        seconds = time.perf_counter() - start
    if report.from_cache:
        raise RuntimeError("a fresh cache returned cached results")
    return {"workers": workers, "molecules": len(tasks), "ok": len(report.records),
            "failed": len(report.failures), "seconds": seconds,
            "molecules_per_s": len(tasks) / seconds}


def warm_up(settings: SimulationSettings) -> None:
    """Import the simulator and load the NMR model in this process (for the 1-worker runs)."""
    with tempfile.TemporaryDirectory(prefix="mspectmol-warm-") as cache:
        run_simulations([MoleculeTask("warm-up", "CC")], settings, cache_dir=cache,
                        n_workers=1, progress=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qm9", type=int, default=40, help="QM9 molecules (default 40)")
    parser.add_argument("--n-drug", type=int, default=8, help="drug-size molecules (default 8)")
    parser.add_argument("--workers", type=int, default=2,
                        help="workers of the parallel runs (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the QM9 draw (default 0)")
    parser.add_argument("--n-conformers", type=int, default=None,
                        help="ETKDG conformers per molecule (default: the simulator default)")
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("--workers must be at least 2 (it is compared with one worker)")
    if args.n_qm9 < 0 or args.n_drug < 0 or args.n_qm9 + args.n_drug == 0:
        parser.error("--n-qm9 and --n-drug must be >= 0, and not both 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {} if args.n_conformers is None else {"n_conformers": args.n_conformers}
    settings = SimulationSettings(**overrides)
    sets = {"qm9": qm9_tasks(args.n_qm9, args.seed), "drug": drug_tasks(args.n_drug)}
    sets = {name: tasks for name, tasks in sets.items() if tasks}
    warm_up(settings)
    print(f"{'set':6} {'n':>4} {'workers':>7} {'ok':>4} {'failed':>6} {'seconds':>8} "
          f"{'mol/s':>7}")
    results: dict[str, list[dict[str, float]]] = {}
    for name, tasks in sets.items():
        results[name] = [timed_run(tasks, settings, workers) for workers in (args.workers, 1)]
        for r in results[name]:
            print(f"{name:6} {r['molecules']:>4} {r['workers']:>7} {r['ok']:>4} "
                  f"{r['failed']:>6} {r['seconds']:>8.1f} {r['molecules_per_s']:>7.3f}")
    summary = {}
    for name, (many, one) in results.items():
        summary[name] = many["molecules_per_s"] / one["molecules_per_s"]
        print(f"{name}: {args.workers} workers vs 1: {summary[name]:.2f}x")
    if args.json is not None:
        args.json.write_text(json.dumps({"settings": settings.to_dict(), "runs": results,
                                         "ratio": summary}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
