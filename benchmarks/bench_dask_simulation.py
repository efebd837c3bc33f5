"""Throughput of the simulator on a Dask LocalCluster versus the local process pool.

Run on demand (not part of the tests; needs ``pip install mspectmol[cluster]``)::

    .venv/bin/python benchmarks/bench_dask_simulation.py --n-qm9 20 --workers 2

The same ``--n-qm9`` QM9 molecules (drawn with a fixed seed from the dataset plan, as
``bench_simulator.py`` does) are simulated three times, each with a fresh temporary cache:

* ``pool``: :func:`~mspectmol.data.simulator.runner.run_simulations` with ``--workers``
  spawned processes (their start, imports and CSP5 model loading included);
* ``dask``: :func:`~mspectmol.data.simulator.distributed.run_simulations_dask` with
  ``scheduler="local:N"``, a LocalCluster of ``--workers`` single-thread processes started
  and stopped by the call (also included);
* ``dask-warm``: the same on a LocalCluster started beforehand and warmed up by one
  molecule, so it measures the per-molecule cost of scheduling through Dask.

It prints molecules per second of each and their ratios to the pool.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_simulator import qm9_tasks

from mspectmol.data.simulator.distributed import require_distributed, run_simulations_dask
from mspectmol.data.simulator.runner import MoleculeTask, RunReport, run_simulations
from mspectmol.data.simulator.settings import SimulationSettings


def timed(label: str, run: Callable[[str], RunReport], tasks: list[MoleculeTask]
          ) -> dict[str, float | str]:
    """Run ``run(cache_dir)`` with a fresh cache; return counts, seconds and molecules/s."""
    with tempfile.TemporaryDirectory(prefix="mspectmol-bench-dask-") as cache:
        start = time.perf_counter()
        report = run(cache)
        seconds = time.perf_counter() - start
    if report.from_cache or report.simulated != len(tasks):
        raise RuntimeError(f"{label}: simulated {report.simulated} of {len(tasks)} molecules "
                           f"({report.from_cache} from cache)")
    return {"run": label, "molecules": len(tasks), "ok": len(report.records),
            "failed": len(report.failures), "seconds": seconds,
            "molecules_per_s": len(tasks) / seconds}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qm9", type=int, default=20, help="QM9 molecules (default 20)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the pool and of the cluster (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the QM9 draw (default 0)")
    parser.add_argument("--n-conformers", type=int, default=None,
                        help="ETKDG conformers per molecule (default: the simulator default)")
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.n_qm9 < 1:
        parser.error("--workers and --n-qm9 must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    distributed = require_distributed()
    overrides = {} if args.n_conformers is None else {"n_conformers": args.n_conformers}
    settings = SimulationSettings(**overrides)
    tasks = qm9_tasks(args.n_qm9, args.seed)
    n = args.workers
    common = {"progress": False}
    runs = [timed("pool", lambda cache: run_simulations(
        tasks, settings, cache_dir=cache, n_workers=n, **common), tasks)]
    runs.append(timed("dask", lambda cache: run_simulations_dask(
        tasks, settings, cache_dir=cache, scheduler=f"local:{n}", **common), tasks))
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        warm = [MoleculeTask(f"warm-up-{i}", smiles)
                for i, smiles in zip(range(n), ["CC", "CO", "CN", "CF"] * n, strict=False)]
        with tempfile.TemporaryDirectory(prefix="mspectmol-warm-") as cache:
            run_simulations_dask(warm, settings, cache_dir=cache, client=client, **common)
        runs.append(timed("dask-warm", lambda cache: run_simulations_dask(
            tasks, settings, cache_dir=cache, client=client, **common), tasks))
    print(f"{'run':10} {'n':>4} {'workers':>7} {'ok':>4} {'failed':>6} {'seconds':>8} "
          f"{'mol/s':>7}")
    for r in runs:
        print(f"{r['run']:10} {r['molecules']:>4} {n:>7} {r['ok']:>4} {r['failed']:>6} "
              f"{r['seconds']:>8.1f} {r['molecules_per_s']:>7.3f}")
    pool_rate = runs[0]["molecules_per_s"]
    ratios = {r["run"]: r["molecules_per_s"] / pool_rate for r in runs[1:]}
    for label, ratio in ratios.items():
        print(f"{label} vs pool ({n} workers each): {ratio:.2f}x")
    if args.json is not None:
        args.json.write_text(json.dumps({"settings": settings.to_dict(), "workers": n,
                                         "runs": runs, "ratio_to_pool": ratios}, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
