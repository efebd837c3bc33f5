"""The training loop every trainer uses: epochs, best state, early stopping, time budget,
checkpoints and exact resumption, the per-epoch CSV row and log line, threads and progress.

A trainer (the classifier's :mod:`mspectmol.training.trainer`, the structure decoder's
:mod:`mspectmol.structure.training`, the conformer model's :mod:`mspectmol.conformers.train`)
seeds its generators (:func:`seed_everything`), builds its model, optimiser and schedulers and
hands :func:`run_loop` two functions:

``train_epoch(epoch, state, on_step) -> dict``
    One pass over the training data: batches, optimiser steps (:func:`optimizer_step`),
    the trainer's schedulers. Returns the row's training entries (``train_loss``, other
    ``train_*`` terms, ``lr``). When ``state.step`` is not 0 the epoch was interrupted after
    that many batches: the trainer skips them and starts from ``state.sums`` and
    ``state.step_state``. After each optimiser step it calls ``on_step(step, sums,
    step_state)``, which writes a checkpoint when one is due. Whatever it carries from
    epoch to epoch (a generator's state) it keeps in ``state.carry``.
``validate(epoch) -> dict``
    The row's validation entries (``val_*``); the entry named by ``monitor`` selects the
    best state (``mode`` ``"max"`` or ``"min"``). None: no validation, the last state is
    kept.

After each epoch the loop appends the row (``epoch``, training and validation entries,
``seconds``, ``improved``) to the history and the CSV log, logs its line
(:func:`~mspectmol.models.epoch_log.epoch_line`) whatever the progress setting, keeps a copy
of the best state, counts epochs without improvement (stopping after ``patience`` of them),
stops once ``max_minutes`` have passed and writes a checkpoint; at the end it restores the best
state. Given the :class:`~mspectmol.models.checkpoint.LoopState` read back from a checkpoint it
continues where that left off.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mspectmol.errors import MspectmolError
from mspectmol.models.checkpoint import Checkpointer, LoopState
from mspectmol.models.epoch_log import CSVLog, epoch_line, log_above_bar

#: ``on_step(step, sums, step_state)``: called by a trainer after each optimiser step.
StepHook = Callable[[int, dict[str, float], Any], None]
#: ``train_epoch(epoch, state, on_step)``: one epoch of a trainer; returns its row entries.
EpochFn = Callable[[int, LoopState, StepHook], dict[str, float]]
#: ``validate(epoch)``: the validation entries of the epoch's row.
ValidateFn = Callable[[int], dict[str, float]]


@dataclass
class LoopSettings:
    """How :func:`run_loop` runs.

    Attributes
    ----------
    epochs
        Epochs to run at most.
    monitor, mode
        The validation entry that selects the best state, and whether higher (``"max"``) or
        lower (``"min"``) is better.
    patience
        Stop after this many epochs without improvement (0: never stop early).
    max_minutes
        Stop after the epoch that passes this many minutes of training (0: no budget).
    threads
        ``torch.set_num_threads`` while the loop runs (None: unchanged).
    progress
        Show a progress bar over the epochs.
    desc
        The progress bar's label.
    """

    epochs: int
    monitor: str = "val_loss"
    mode: str = "min"
    patience: int = 0
    max_minutes: float = 0.0
    threads: int | None = None
    progress: bool = False
    desc: str = "train"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise MspectmolError(f"epochs must be >= 1, got {self.epochs}")
        if self.mode not in ("min", "max"):
            raise MspectmolError(f"mode must be 'min' or 'max', got {self.mode!r}")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global, for third-party code
    torch.manual_seed(seed)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``torch.set_num_threads(n)`` (unchanged when None), restoring afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_device(name: str) -> torch.device:
    """The torch device a trainer was asked to use (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Raises
    ------
    MspectmolError
        For a name torch does not know, or CUDA when torch sees no GPU.
    """
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MspectmolError(f"unknown training device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MspectmolError(f"training device {name!r} asked for, but torch sees no GPU")
    return device


def autocast(enabled: bool, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``enabled``; a no-op context otherwise."""
    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def optimizer_step(loss: Tensor, optimizer: torch.optim.Optimizer, *,
                   clip: tuple[Iterable[Tensor], float] | None = None,
                   scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> None:
    """Back-propagate ``loss`` and step: gradients cleared, optional clipping of the given
    parameters' norm, the optimiser's step, then ``scheduler``'s (a per-step schedule)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(clip[0], clip[1])
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


def state_copy(model: nn.Module) -> dict[str, Tensor]:
    """A detached copy of the model's state."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _improves(score: float | None, best: float | None, mode: str) -> bool:
    if score is None or math.isnan(score):
        return False
    return best is None or (score > best if mode == "max" else score < best)


def run_loop(model: nn.Module, train_epoch: EpochFn, validate: ValidateFn | None,
             settings: LoopSettings, *, state: LoopState | None = None,
             checkpointer: Checkpointer | None = None, log_path: Path | None = None,
             main: bool = True, logger: logging.Logger | None = None) -> LoopState:
    """Train ``model`` epoch by epoch (see the module docstring); returns the final state.

    Parameters
    ----------
    model
        The model being trained (on its device); the best state is restored into it.
    train_epoch, validate
        The trainer's epoch and validation (None: none).
    settings
        Epochs, monitor, patience, time budget, threads, progress bar.
    state
        The state to continue from (read back from a checkpoint); None: a new run.
    checkpointer
        Writes a checkpoint at each epoch end and when ``on_step`` finds one due; None: none.
    log_path
        CSV file receiving one row per epoch (None: no file).
    main
        This process logs, writes the CSV log and checkpoints (rank 0 of distributed
        training; True otherwise).
    logger
        Where the per-epoch lines go (default ``mspectmol.training``).
    """
    log = logger or logging.getLogger("mspectmol.training")
    state = state if state is not None else LoopState(best_state=state_copy(model))
    saver = checkpointer if main else None
    csv_log = CSVLog(log_path if main else None, state.history)
    start = time.perf_counter() - state.seconds
    cpu_start = time.process_time() - state.cpu_seconds
    shown = settings.progress and main
    bar = tqdm(total=settings.epochs, initial=state.epoch - 1, desc=settings.desc,
               unit="epoch", disable=not shown, leave=False)

    def clock(tick: float) -> None:
        state.epoch_seconds = time.perf_counter() - tick
        state.seconds = time.perf_counter() - start
        state.cpu_seconds = time.process_time() - cpu_start

    with torch_threads(settings.threads), log_above_bar(shown):
        while not state.finished:
            epoch, tick = state.epoch, time.perf_counter() - state.epoch_seconds

            def on_step(step: int, sums: dict[str, float], step_state: Any = None) -> None:
                if saver is not None and saver.due(epoch, step):  # noqa: B023 - called now
                    state.step, state.sums, state.step_state = step, sums, step_state
                    clock(tick)  # noqa: B023
                    saver.save(state)

            terms = train_epoch(epoch, state, on_step)
            scores = validate(epoch) if validate is not None else {}
            row: dict[str, Any] = {"epoch": epoch, **terms, **scores,
                                   "seconds": round(time.perf_counter() - tick, 4)}
            if validate is not None:
                improved = _improves(scores.get(settings.monitor), state.best_score,
                                     settings.mode)
                if improved:
                    state.best_score, state.best_epoch = scores[settings.monitor], epoch
                    state.best_state, state.waited = state_copy(model), 0
                else:
                    state.waited += 1
                row["improved"] = int(improved)
            state.history.append(row)
            csv_log.write(row)
            bar.update(1)
            bar.set_postfix({k: f"{row[k]:.4f}" for k in ("train_loss", settings.monitor)
                             if k in row})
            if main:
                log.info("%s", epoch_line(row, settings.epochs))
            clock(tick)
            state.stopped_early = (settings.patience > 0 and state.waited >= settings.patience
                                   and epoch < settings.epochs)
            over = settings.max_minutes and state.seconds / 60 >= settings.max_minutes
            if state.stopped_early:
                state.stop_reason = "early stop"
            elif over and epoch < settings.epochs:
                state.stop_reason = f"time budget of {settings.max_minutes} min"
            state.finished = state.stop_reason is not None or epoch >= settings.epochs
            state.epoch, state.step, state.sums, state.step_state = epoch + 1, 0, {}, None
            state.epoch_seconds = 0.0
            if saver is not None:
                saver.save(state)
            if state.stop_reason is not None and main:
                log.info("%s after epoch %d (best %d)", state.stop_reason, epoch,
                         state.best_epoch)
    bar.close()
    if validate is not None:
        model.load_state_dict(state.best_state)
    return state
