"""Cost measurements of a suite (``"measure": ["cost"]``; Tables 6, 7 and 9).

A run of such a suite records peak resident memory of the process during the run, sampled
every 20 ms by :class:`ResourceMonitor` (plus the CUDA allocator's peak on a GPU), training
seconds per epoch, and the time of one training epoch over an equal number of training
molecules from each heavy-atom bin (:func:`heavy_atom_bin_times`); :func:`run_cost` makes
the row's ``cost`` entry of them. Their tables are in :mod:`mspectmol.suites.study`.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mspectmol.data.batches import split_data
from mspectmol.models.inference import is_neural
from mspectmol.models.loop import torch_threads
from mspectmol.spectra.augmentation import Augmenter
from mspectmol.training.trainer import train_epoch


def _rss_bytes() -> int | None:
    """Resident set size of this process (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class ResourceMonitor:
    """Peak resident memory of this process while the ``with`` block runs.

    A daemon thread samples the RSS every ``interval`` seconds; :attr:`peak_mb` is the
    highest sample and :attr:`increase_mb` its excess over the RSS at entry (what the run
    itself needed; the dataset loaded before it is in the peak, not in the increase). On
    CUDA the allocator's peak during the block is :attr:`cuda_peak_mb`.
    """

    def __init__(self, interval: float = 0.02, cuda: bool = False) -> None:
        self.interval, self.cuda = interval, cuda
        self.start = self.peak = 0
        self.cuda_peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes() or 0)

    def __enter__(self) -> ResourceMonitor:
        self.start = self.peak = _rss_bytes() or 0
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, _rss_bytes() or 0)
        if self.cuda:
            self.cuda_peak_mb = torch.cuda.max_memory_allocated() / 2**20

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    @property
    def increase_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def bin_label(low: int, high: int) -> str:
    """``"10-12"`` for a heavy-atom bin."""
    return f"{low}-{high}"


def heavy_atom_bin_times(result: Any, dataset: Any, config: Any,
                         bins: Sequence[tuple[int, int]], per_bin: int = 256
                         ) -> dict[str, dict[str, float]]:
    """Seconds of one training epoch over ``n`` training molecules of each heavy-atom bin.

    ``n`` is the smallest of ``per_bin`` and the bins' counts among the molecules of the
    run's training split (all of them, not only the run's ``max_train`` subset), so every
    bin trains on as many molecules (drawn with the run's seed). Each bin starts from a copy
    of the trained model with a fresh Adam optimiser (the run's learning rate, batch size,
    augmentation and modality dropout); the trained model itself is not changed. One
    untimed epoch on the first bin warms the allocator up first (otherwise the first bin
    timed pays for it). Classical models (one-step fits) and bins without training
    molecules give no entry.
    """
    if not bins or not is_neural(result.train.model):
        return {}
    train = split_data(dataset, config.modalities, config.split, "train")
    position = {k: i for i, k in enumerate(dataset.ids)}
    atoms = np.asarray([dataset.heavy_atoms[position[k]] for k in train.ids])
    members = {bin_label(lo, hi): np.flatnonzero((atoms >= lo) & (atoms <= hi))
               for lo, hi in bins}
    members = {k: v for k, v in members.items() if v.size}
    if not members:
        return {}
    n = min(per_bin, *(v.size for v in members.values()))
    rng = np.random.default_rng(config.seed)
    augmenter = Augmenter(config.augment)
    parts = {label: train.subset(np.sort(rng.choice(rows, size=n, replace=False)))
             for label, rows in members.items()}

    def epoch_seconds(part: Any) -> float:
        model = copy.deepcopy(result.train.model)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        start = time.perf_counter()
        train_epoch(model, optimizer, part, config, 1, augmenter)
        return time.perf_counter() - start

    out = {}
    with torch_threads(config.threads):
        epoch_seconds(next(iter(parts.values())))  # warm-up, not recorded
        for label, rows in members.items():
            seconds = epoch_seconds(parts[label])
            out[label] = {"molecules": int(n), "seconds": seconds,
                          "seconds_per_1000": 1000.0 * seconds / n,
                          "mean_heavy_atoms": float(atoms[rows].mean())}
    return out


def run_cost(monitor: ResourceMonitor, result: Any, bins: Mapping[str, Any]) -> dict[str, Any]:
    """The ``cost`` entry of a row: memory, seconds per epoch and the bin times."""
    training = result.metrics["training"]
    epochs = max(int(training["epochs_run"]), 1)
    out: dict[str, Any] = {"peak_rss_mb": round(monitor.peak_mb, 1),
                           "rss_increase_mb": round(monitor.increase_mb, 1),
                           "seconds_per_epoch": float(training["seconds"]) / epochs}
    if monitor.cuda_peak_mb is not None:
        out["cuda_peak_mb"] = round(monitor.cuda_peak_mb, 1)
    if bins:
        out["bins"] = dict(bins)
    return out
