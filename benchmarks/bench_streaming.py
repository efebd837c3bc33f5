"""Benchmark: stream Alberts-format parquet to 600-point grids; convert it to a memmap store.

Generates a synthetic set shaped like the Alberts et al. (2024) chunks (SMILES from a small
pool of real molecules, IR 1800 float32, 1H 10000 float32 and 13C 10000 float64 values per
row, NMR mostly zeros with quantised values as in the published files, several files of
several row groups) under a temporary folder, then measures, each phase in a fresh process
so its peak RSS (``resource.getrusage``) is its own:

- ``stream``: :class:`~mspectmol.data.streaming.AlbertsStream` through a DataLoader, epoch 1
  (hashing the files and labelling the SMILES) and epoch 2 (labels cached);
- ``memmap``: :func:`~mspectmol.data.streaming.convert_to_memmap`, then a shuffled read of
  the store with :class:`~mspectmol.data.store.MemmapDataset`;
- ``baseline``: the naive way on a subset, pandas reading a whole file and ``np.interp`` row
  by row; the speed-up against the streaming epoch 2 is printed.

Target: >= 5,000 molecules/s on 2 cores with memory that does not grow with the data.

    python benchmarks/bench_streaming.py [--rows 50000] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Real molecules (common names in the comments are for the reader only).
SMILES_POOL = [
    "CCO", "c1ccccc1", "CC(=O)O", "CC(=O)Oc1ccccc1C(=O)O",  # ethanol benzene acetic aspirin
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O",  # caffeine ibuprofen
    "CC(=O)Nc1ccc(O)cc1", "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",  # paracetamol glucose
    "c1ccc2ccccc2c1", "CC(C)=O", "CCN(CC)CC", "C1CCCCC1", "O=C1CCCCC1", "CC#N",  # ... acetonitrile
    "c1ccncc1", "c1ccoc1", "c1ccsc1", "Oc1ccccc1", "Nc1ccccc1", "O=Cc1ccccc1",
    "COC(=O)c1ccccc1", "CC(N)C(=O)O", "NCC(=O)O", "CS(C)=O", "ClCCl", "FC(F)(F)c1ccccc1",
    "CCOC(=O)C", "C=CC(=O)OC", "CC(C)(C)OC(=O)N1CCCC1", "Brc1ccccc1", "O=[N+]([O-])c1ccccc1",
    "CCCCCCCCO", "OC(=O)CCC(=O)O", "C#Cc1ccccc1", "CN1CCN(C)CC1", "O=C(O)c1ccncc1",
]


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child, MiB."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"rss_mb": self_kb / 1024, "child_rss_mb": child_kb / 1024}


def _profiles(rng: np.random.Generator, axis: np.ndarray, n: int, n_peaks: int, width: float,
              window: float, decimals: int | None) -> np.ndarray:
    out = np.zeros((n, axis.size))
    step = abs(axis[1] - axis[0])
    half = int(window / step)
    for row in out:
        for centre in rng.uniform(axis.min(), axis.max(), n_peaks):
            k = int(np.argmin(np.abs(axis - centre)))
            lo, hi = max(k - half, 0), min(k + half + 1, axis.size)
            row[lo:hi] += rng.uniform(0.1, 1.0) / (1 + ((axis[lo:hi] - centre) / width) ** 2)
        row /= row.max()
    return np.round(out, decimals) if decimals is not None else out


def _list_array(matrix: np.ndarray, value_type):
    import pyarrow as pa

    offsets = pa.array(np.arange(0, matrix.size + 1, matrix.shape[1]), pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel(), value_type))


def generate(folder: Path, rows: int, rows_per_file: int, row_group: int, seed: int) -> int:
    """Write the synthetic set; returns the bytes written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    pool = 48
    ir = _profiles(rng, np.linspace(400, 4000, 1800), pool, 25, 12.0, 400.0, None)
    h = _profiles(rng, np.linspace(10, -2, 10000), pool, 12, 0.004, 0.15, 6)
    c = _profiles(rng, np.linspace(230, -20, 10000), pool, 10, 0.05, 1.5, 6)
    ir, h = ir.astype(np.float32), h.astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("smiles", pa.string()), ("ir_spectra", pa.list_(pa.float32())),
                        ("h_nmr_spectra", pa.list_(pa.float32())),
                        ("c_nmr_spectra", pa.list_(pa.float64()))])
    done, k = 0, 0
    while done < rows:
        n_file = min(rows_per_file, rows - done)
        with pq.ParquetWriter(folder / f"chunk_{k:04d}.parquet", schema) as writer:
            for start in range(0, n_file, row_group):
                n = min(row_group, n_file - start)
                pick = rng.integers(0, pool, n)
                smiles = [SMILES_POOL[i] for i in rng.integers(0, len(SMILES_POOL), n)]
                writer.write_table(pa.table(
                    [pa.array(smiles), _list_array(ir[pick], pa.float32()),
                     _list_array(h[pick], pa.float32()), _list_array(c[pick], pa.float64())],
                    schema=schema), row_group_size=row_group)
        done += n_file
        k += 1
    return sum(f.stat().st_size for f in folder.glob("*.parquet"))


def phase_stream(data: Path, cache: Path, workers: int, batch_size: int) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from mspectmol.data.streaming import AlbertsStream

    torch.set_num_threads(1)
    stream = AlbertsStream(data, batch_size=batch_size, cache_dir=cache, seed=0)
    loader = DataLoader(stream, batch_size=None, num_workers=workers)
    result = {}
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        t = time.perf_counter()
        n = sum(len(b) for b in loader)
        seconds = time.perf_counter() - t
        result[f"epoch{epoch + 1}"] = {"molecules": n, "seconds": seconds,
                                       "mol_per_s": n / seconds}
    return {**result, **peak_rss_mb()}


def phase_memmap(data: Path, cache: Path, out: Path, batch_size: int) -> dict:
    from mspectmol.data.store import MemmapDataset
    from mspectmol.data.streaming import convert_to_memmap

    t = time.perf_counter()
    convert_to_memmap(data, out, cache_dir=cache, progress=False)
    seconds = time.perf_counter() - t
    ds = MemmapDataset(out)
    t = time.perf_counter()
    n = sum(len(b) for b in ds.iter_batches(batch_size, shuffle=True, seed=0))
    read = time.perf_counter() - t
    size = sum(f.stat().st_size for f in out.glob("*.npy"))
    return {"convert": {"molecules": len(ds), "seconds": seconds, "mol_per_s": len(ds) / seconds},
            "read": {"molecules": n, "seconds": read, "mol_per_s": n / read},
            "store_mb": size / 2**20, **peak_rss_mb()}


def phase_baseline(data: Path, subset: int) -> dict:
    import pandas as pd

    from mspectmol.spectra.preprocessing import canonical_grid
    from mspectmol.spectra.readers.alberts import ALBERTS_AXES, ALBERTS_COLUMNS

    file = sorted(data.glob("*.parquet"))[0]
    t = time.perf_counter()
    frame = pd.read_parquet(file, columns=["smiles", *ALBERTS_COLUMNS.values()]).head(subset)
    out = {}
    for mod, column in ALBERTS_COLUMNS.items():
        axis, grid = ALBERTS_AXES[column], canonical_grid(mod, 600)
        order = np.argsort(axis)
        rows = []
        for values in frame[column]:
            y = np.interp(grid, axis[order], np.asarray(values, dtype=np.float64)[order])
            rows.append((y / max(y.max(), 1e-30)).astype(np.float32))
        out[mod] = np.stack(rows)
    seconds = time.perf_counter() - t
    n = len(frame)
    return {"molecules": n, "seconds": seconds, "mol_per_s": n / seconds, **peak_rss_mb()}


def run_phase(args: argparse.Namespace, phase: str) -> dict:
    """Run one phase in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, __file__, "--phase", phase, "--workdir", str(args.workdir),
           "--workers", str(args.workers), "--batch-size", str(args.batch_size),
           "--baseline-subset", str(args.baseline_subset)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"phase {phase} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(rows: int, size: int, gen_s: float, stream: dict, memmap: dict, base: dict) -> None:
    e1, e2 = stream["epoch1"], stream["epoch2"]
    print(f"synthetic set: {rows} molecules, {size / 2**20:.0f} MiB of parquet "
          f"(generated in {gen_s:.1f} s)")
    print(f"stream epoch 1 (hash + label files): {e1['mol_per_s']:8.0f} mol/s "
          f"({e1['seconds']:.1f} s)")
    print(f"stream epoch 2 (labels cached):      {e2['mol_per_s']:8.0f} mol/s "
          f"({e2['seconds']:.1f} s); peak RSS main {stream['rss_mb']:.0f} MiB, "
          f"largest worker {stream['child_rss_mb']:.0f} MiB")
    cv, rd = memmap["convert"], memmap["read"]
    print(f"memmap conversion:                   {cv['mol_per_s']:8.0f} mol/s "
          f"({cv['seconds']:.1f} s, store {memmap['store_mb']:.0f} MiB); "
          f"peak RSS {memmap['rss_mb']:.0f} MiB")
    print(f"memmap shuffled read:                {rd['mol_per_s']:8.0f} mol/s")
    print(f"baseline (pandas + np.interp per row, {base['molecules']} molecules): "
          f"{base['mol_per_s']:.0f} mol/s, peak RSS {base['rss_mb']:.0f} MiB; "
          f"streaming speed-up {e2['mol_per_s'] / base['mol_per_s']:.1f}x")
    print(f"target >= 5000 mol/s (epoch 2): {'met' if e2['mol_per_s'] >= 5000 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rows-per-file", type=int, default=3200)
    parser.add_argument("--row-group", type=int, default=800)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--baseline-subset", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["stream", "memmap", "baseline"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        work = args.workdir
        data, cache = work / "parquet", work / "cache"
        if args.phase == "stream":
            result = phase_stream(data, cache, args.workers, args.batch_size)
        elif args.phase == "memmap":
            result = phase_memmap(data, cache, work / "store", args.batch_size)
        else:
            result = phase_baseline(data, args.baseline_subset)
        print(json.dumps(result))
        return
    args.workdir = args.keep or Path(tempfile.mkdtemp(prefix="mspectmol-bench-"))
    for old in ("parquet", "cache", "store"):  # a kept folder starts afresh
        shutil.rmtree(args.workdir / old, ignore_errors=True)
    try:
        t = time.perf_counter()
        size = generate(args.workdir / "parquet", args.rows, args.rows_per_file, args.row_group,
                        args.seed)
        gen_s = time.perf_counter() - t
        report(args.rows, size, gen_s, run_phase(args, "stream"), run_phase(args, "memmap"),
               run_phase(args, "baseline"))
    finally:
        if args.keep is None:
            shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
