"""Whole batches in parallel for CPU inference.

On a few CPU cores, a small network such as PA-IB predicts faster when each core takes whole
batches with one torch thread than when every operation of every batch is split across the
cores (torch's intra-op threads): PA-IB's gates and readouts are small matrix products whose
per-operation hand-over between threads costs a large share of their time.
:func:`map_batches` runs batch functions on ``workers`` Python threads (torch releases the
interpreter lock inside its operations), each with one torch thread and in inference mode;
the torch thread count is restored afterwards. The results are those of the batches run one
after the other, to float rounding (``benchmarks/bench_inference.py`` times both).

torch's thread count is process-wide: a caller that runs other torch work on other threads
at the same time should pass ``workers=1``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from mspectmol.errors import ConfigError
from mspectmol.models.loop import torch_threads

T = TypeVar("T")


def batch_workers(workers: int | None, n_batches: int, device: torch.device | str = "cpu"
                  ) -> int:
    """Threads :func:`map_batches` should use: ``workers`` (default: torch's thread count)
    on the CPU, never more than there are batches; 1 on other devices and under autocast,
    whose state a new thread would not inherit."""
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    kind = torch.device(device).type
    if kind != "cpu" or torch.is_autocast_enabled(kind):
        return 1
    chosen = torch.get_num_threads() if workers is None else workers
    return max(1, min(chosen, n_batches))


def map_batches(fn: Callable[[int], T], n_batches: int, workers: int = 1) -> list[T]:
    """``[fn(0), ..., fn(n_batches - 1)]`` under :func:`torch.inference_mode`, computed by
    ``workers`` threads with one torch thread each (one after the other for ``workers=1``,
    with the caller's threads)."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")

    def run(index: int) -> T:
        with torch.inference_mode():
            return fn(index)

    if workers == 1 or n_batches <= 1:
        return [run(i) for i in range(n_batches)]
    with torch_threads(1), ThreadPoolExecutor(max_workers=workers,
                                              thread_name_prefix="mspectmol-batch") as pool:
        return list(pool.map(run, range(n_batches)))
