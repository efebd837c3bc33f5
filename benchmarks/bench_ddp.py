"""Benchmark: distributed data-parallel training on the CPU against one process.

Trains the same model on the same synthetic data (``--n`` molecules, IR + 1H + 13C spectra
of ``--n-points`` points, 37 labels) with :func:`~mspectmol.training.trainer.train_epoch`,
one warm-up epoch and then ``--epochs`` timed epochs, in three set-ups:

- ``1 process x 1 thread``;
- ``1 process x 2 threads`` (the same cores as two processes);
- ``2 processes x 1 thread``: DistributedDataParallel over gloo, started with
  :func:`~mspectmol.training.distributed.launch`; each process takes half of every global
  batch of ``--batch-size`` rows, so all three do the same optimiser steps.

It prints training samples/s of each and the ratio of the DDP rate to the two others.
Validation is not timed.

    python benchmarks/bench_ddp.py [--n 1024] [--batch-size 128] [--epochs 2] [--model pa_ib]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.distributed as dist

from mspectmol.data.batches import SplitData, make_split
from mspectmol.models.registry import get_model_spec
from mspectmol.training import distributed
from mspectmol.training.config import TrainConfig
from mspectmol.training.trainer import seed_everything, train_epoch

N_LABELS = 37
MODALITIES = ("ir", "h_nmr", "c_nmr")


def synthetic(n: int, n_points: int, seed: int = 0) -> SplitData:
    """Random labels; each label adds a Gaussian peak at its own place in each spectrum."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, N_LABELS)) < 0.15).astype(np.uint8)
    grid = np.arange(n_points)
    spectra = {}
    for k, m in enumerate(MODALITIES):
        centres = np.roll(np.linspace(10, n_points - 10, N_LABELS), 5 * k)
        peaks = np.exp(-0.5 * ((grid[None, :] - centres[:, None]) / 3.0) ** 2)
        x = labels @ peaks + 0.05 * rng.random((n, n_points))
        spectra[m] = (x / x.max(axis=1, keepdims=True)).astype(np.float32)
    return make_split([f"s{i}" for i in range(n)], labels, spectra)


def _barrier() -> None:
    if distributed.is_active():
        dist.barrier()


def measure(model_name: str, n: int, n_points: int, batch_size: int, epochs: int) -> float:
    """Training samples/s of this process (of the whole group inside one)."""
    data = synthetic(n, n_points)
    config = TrainConfig(model=model_name, batch_size=batch_size, n_points=n_points,
                         progress=False, epochs=epochs + 1)
    spec = get_model_spec(model_name)
    model_config = spec.make_config({}, primary="ir", auxiliary=("h_nmr", "c_nmr"),
                                    n_points=n_points, n_labels=N_LABELS)
    seed_everything(0)
    model = spec.build(model_config)
    net = distributed.wrap(model, torch.device("cpu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    train_epoch(net, optimizer, data, config, 1, None)  # warm-up
    _barrier()
    start = time.perf_counter()
    for epoch in range(2, epochs + 2):
        train_epoch(net, optimizer, data, config, epoch, None)
    _barrier()
    return n * epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1024, help="training molecules")
    parser.add_argument("--n-points", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after 1 warm-up)")
    parser.add_argument("--model", default="pa_ib")
    args = parser.parse_args()
    job = (args.model, args.n, args.n_points, args.batch_size, args.epochs)
    rates = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        rates[f"1 process x {threads} thread{'s' * (threads > 1)}"] = measure(*job)
    torch.set_num_threads(1)
    rates["2 processes x 1 thread (DDP, gloo)"] = distributed.launch(measure, 2, job, threads=1)
    print(f"{args.model}, {args.n} molecules x {args.epochs} epochs, global batch "
          f"{args.batch_size}, {args.n_points} points, torch {torch.__version__}")
    for name, rate in rates.items():
        print(f"  {name:36s} {rate:9.1f} samples/s")
    ddp = rates["2 processes x 1 thread (DDP, gloo)"]
    for name in list(rates)[:2]:
        print(f"  DDP / {name:30s} {ddp / rates[name]:6.2f}x")


if __name__ == "__main__":
    main()
