"""Fitting models: the neural training loop with early stopping, and classical fits.

Neural models (paper appendix B): Adam at ``lr`` (4e-4) with cosine annealing over
``epochs`` (100), mini-batches of ``batch_size`` (128) shuffled by :func:`epoch_order`,
optional augmentation of training batches, and after each epoch the validation micro- and
macro-F1 at threshold 0.5. The state with the best validation micro-F1 is kept and restored
at the end; training stops after ``patience`` epochs without improvement. The loss is
:func:`~mspectmol.models.losses.pa_ib_loss` (eq. 14) for PA-IB outputs and binary
cross-entropy with logits otherwise. Each epoch appends a row to a CSV log and logs one INFO
line (:mod:`~mspectmol.training.epoch_log`), with or without the progress bar. Training runs on
``config.device`` (CPU by default, or CUDA); the fitted model is returned on the CPU. Given a
checkpoint folder, the loop writes checkpoints (:mod:`mspectmol.training.checkpoint`) at
epoch ends and every ``config.checkpoint_every`` steps, and can resume from one exactly.
``config.amp`` runs the forward pass and loss under bfloat16 autocast on CUDA.

Inside a process group (torchrun or ``config.devices > 1``) the model is wrapped in
DistributedDataParallel and each rank trains on its share of every global batch; rank 0
alone logs and writes the CSV log and checkpoints (:mod:`mspectmol.training.distributed`).

Classical models are fitted once, with the validation split passed for their own use.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from mspectmol.data.batches import SplitData, augment_rng, epoch_order, iterate_batches
from mspectmol.errors import ConfigError
from mspectmol.evaluation import macro_f1, micro_f1
from mspectmol.models.inference import is_neural, model_device, predict_proba
from mspectmol.models.losses import pa_ib_loss
from mspectmol.models.pa_ib import PAIBOutput
from mspectmol.spectra.augmentation import Augmenter
from mspectmol.training import distributed
from mspectmol.training.checkpoint import (
    Checkpointer,
    TrainingState,
    load_checkpoint,
    run_fingerprint,
)
from mspectmol.training.config import TrainConfig
from mspectmol.training.epoch_log import CSVLog, epoch_line, log_above_bar

log = logging.getLogger("mspectmol.training")


@dataclass
class TrainResult:
    """Outcome of a fit.

    Attributes
    ----------
    model
        The fitted model (best validation state restored).
    history
        One dict per epoch, as written to the CSV log.
    best_epoch
        Epoch (1-based) of the restored state (1 for classical fits).
    best_val_micro_f1
        Its validation micro-F1 at threshold 0.5.
    stopped_early
        True when patience ran out before ``epochs``.
    seconds
        Wall time of the fit.
    processes
        Processes of distributed training (1: none).
    """

    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_micro_f1: float = float("nan")
    stopped_early: bool = False
    seconds: float = 0.0
    processes: int = 1

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no model; ``processes`` only for distributed fits)."""
        out = {"epochs_run": len(self.history), "best_epoch": self.best_epoch,
               "best_val_micro_f1": self.best_val_micro_f1,
               "stopped_early": self.stopped_early, "seconds": round(self.seconds, 3)}
        if self.processes > 1:
            out["processes"] = self.processes
        return out


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


def loss_terms(model: nn.Module, output: Any, targets: Tensor) -> tuple[Tensor, dict[str, float]]:
    """The loss to back-propagate and its terms as floats (``loss`` first).

    PA-IB uses eq. 14 (:func:`pa_ib_loss`); a model with its own ``compute_loss(output,
    targets)`` (e.g. the symmetric IB) uses that; plain logits get binary cross-entropy.
    """
    if isinstance(output, PAIBOutput) or hasattr(model, "compute_loss"):
        weights = getattr(model, "label_pos_weight", None)
        terms = (pa_ib_loss(output, targets, model.config, pos_weight=weights)
                 if isinstance(output, PAIBOutput) else model.compute_loss(output, targets))
        values = terms.as_floats()
        return terms.total, {"loss": values.pop("total"), **values}
    loss = F.binary_cross_entropy_with_logits(output, targets.to(output.dtype))
    return loss, {"loss": float(loss.detach())}


#: ``on_step(step, sums, rng)``: called after each optimiser step of an epoch.
StepHook = Callable[[int, dict[str, float], np.random.Generator], None]


def autocast(enabled: bool, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA when ``enabled``; a no-op context otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: SplitData,
                config: TrainConfig, epoch: int, augmenter: Augmenter | None, *,
                resume: TrainingState | None = None,
                on_step: StepHook | None = None) -> dict[str, float]:
    """One pass over ``data``; returns the sample-weighted mean of each loss term.

    ``resume`` (a state inside ``epoch``) skips its ``step`` batches, starting from their
    loss sums and augmentation generator state; ``on_step`` receives the batches done so far,
    the loss sums and the augmentation generator after each optimiser step. ``model`` may be
    wrapped in DDP: each rank then takes its share of every batch and the loss sums are
    summed over the ranks after each step (the same on all of them).
    """
    model.train()
    core = distributed.unwrap(model)
    device = model_device(core)
    rank, world = distributed.rank(), distributed.world_size()
    sums: dict[str, float] = {}
    rng = augment_rng(config.seed, epoch)
    order = epoch_order(len(data), config.seed, epoch)
    step = 0
    if resume is not None and resume.step:
        step, sums = resume.step, dict(resume.sums)
        if resume.augment_state is not None:
            rng.bit_generator.state = resume.augment_state
        order = order[step * config.batch_size:]
    dropout = {m: config.modality_dropout for m in config.auxiliary}
    for batch in iterate_batches(data, config.batch_size, order=order, augmenter=augmenter,
                                 rng=rng, rank=rank, world_size=world, dropout=dropout):
        batch = batch.to(device)
        distributed.step_seed(config.seed, epoch, step)
        optimizer.zero_grad(set_to_none=True)
        with autocast(config.amp, device):
            output = model(batch.spectra, batch.available)
            loss, terms = loss_terms(core, output, batch.labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at epoch {epoch}: {terms}")
        (loss if batch.weight == 1.0 else loss * batch.weight).backward()
        optimizer.step()
        done = distributed.sum_values({k: v * batch.n_rows for k, v in terms.items()})
        for key, value in done.items():
            sums[key] = sums.get(key, 0.0) + value
        step += 1
        if on_step is not None:
            on_step(step, sums, rng)
    return {key: value / len(data) for key, value in sums.items()}


def validation_f1(model: Any, val: SplitData, batch_size: int) -> tuple[float, float]:
    """Micro- and macro-F1 at threshold 0.5 on the validation split.

    Inside a process group each rank predicts a share of the rows and every rank gets all
    predictions (:func:`~mspectmol.training.distributed.gather_rows`), hence equal scores.
    """
    def predict(rows: np.ndarray) -> np.ndarray:
        return predict_proba(model, val.subset(rows), batch_size=batch_size) >= 0.5

    pred = distributed.gather_rows(predict, len(val), val.labels.shape[1]).astype(np.int8)
    truth = val.labels.astype(np.int8)
    return micro_f1(truth, pred), macro_f1(truth, pred)


def _state_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit_neural(model: nn.Module, train: SplitData, val: SplitData, config: TrainConfig, *,
               log_path: Path | None = None, checkpoint_dir: Path | None = None,
               resume_from: Path | None = None,
               render_epoch: Callable[[int], SplitData] | None = None) -> TrainResult:
    """Train a neural model; see the module docstring.

    Parameters
    ----------
    model
        An untrained registered neural model (built as for the run being resumed).
    train, val
        Training and validation splits (validation must not be empty).
    config
        Seed, epochs, patience, batch size, lr, augmentation, threads, progress bar,
        checkpoint interval.
    log_path
        CSV file receiving one row per epoch (None: no file).
    checkpoint_dir
        Folder receiving ``last.safetensors`` (None, or ``config.checkpoint_every == 0``:
        no checkpoints).
    resume_from
        Checkpoint file (or folder) of this run to continue from; the result equals that of
        an uninterrupted run (:mod:`mspectmol.training.checkpoint`).
    render_epoch
        ``render_epoch(epoch)`` gives the training split to use in that epoch (the same rows
        in the same order, newly rendered spectra; deterministic in the epoch, so resuming
        gives the same result). None: ``train`` every epoch.
    """
    if len(train) == 0 or len(val) == 0:
        raise ConfigError("training needs non-empty training and validation splits")
    seed_everything(config.seed)
    device = distributed.process_device(config.device)
    _check_amp(config.amp, device)
    if hasattr(model, "fit_label_weights"):
        model.fit_label_weights(train.labels)
    model.to(device)
    main = distributed.is_main()
    augmenter = Augmenter(config.augment)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    fingerprint = run_fingerprint(config, train, val)
    state = TrainingState(best_state=_state_copy(model))
    if resume_from is not None:
        state = load_checkpoint(resume_from).restore(model, optimizer, scheduler, fingerprint)
        log.info("resuming at epoch %d after %d batches", state.epoch, state.step)
    net = distributed.wrap(model, device)
    saver = None
    if main and checkpoint_dir is not None and config.checkpoint_every != 0:
        saver = Checkpointer(checkpoint_dir, config.checkpoint_every,
                             -(-len(train) // config.batch_size), model=model,
                             optimizer=optimizer, scheduler=scheduler, fingerprint=fingerprint)
    csv_log = CSVLog(log_path if main else None, state.history)
    start = time.perf_counter() - state.seconds
    bar = tqdm(total=config.epochs, initial=state.epoch - 1, desc=f"train {config.model}",
               unit="epoch", disable=not (config.progress and main), leave=False)
    with torch_threads(config.threads), log_above_bar(config.progress and main):
        while not state.finished:
            epoch, tick = state.epoch, time.perf_counter() - state.epoch_seconds
            lr = optimizer.param_groups[0]["lr"]

            def on_step(step: int, sums: dict[str, float], rng: np.random.Generator) -> None:
                if saver is not None and saver.due(epoch, step):  # noqa: B023 - called now
                    state.step, state.sums = step, sums
                    state.augment_state = rng.bit_generator.state
                    state.epoch_seconds = time.perf_counter() - tick  # noqa: B023
                    state.seconds = time.perf_counter() - start
                    saver.save(state)

            data = render_epoch(epoch) if render_epoch is not None else train
            terms = train_epoch(net, optimizer, data, config, epoch, augmenter,
                                resume=state, on_step=on_step)
            scheduler.step()
            distributed.sync_buffers(model)
            val_micro, val_macro = validation_f1(model, val, config.eval_batch_size)
            improved = val_micro > state.best_val_micro_f1
            if improved:
                state.best_val_micro_f1, state.best_epoch = val_micro, epoch
                state.best_state, state.waited = _state_copy(model), 0
            else:
                state.waited += 1
            row = {"epoch": epoch, "lr": lr, **{f"train_{k}": v for k, v in terms.items()},
                   "val_micro_f1": val_micro, "val_macro_f1": val_macro,
                   "seconds": round(time.perf_counter() - tick, 4), "improved": int(improved)}
            state.history.append(row)
            csv_log.write(row)
            bar.update(1)
            bar.set_postfix(loss=f"{terms['loss']:.4f}", val_f1=f"{val_micro:.3f}")
            if main:
                log.info("%s", epoch_line(row, config.epochs))
            state.stopped_early = state.waited >= config.patience and epoch < config.epochs
            state.finished = state.stopped_early or epoch >= config.epochs
            state.epoch, state.step, state.sums, state.augment_state = epoch + 1, 0, {}, None
            state.epoch_seconds, state.seconds = 0.0, time.perf_counter() - start
            if saver is not None:
                saver.save(state)
            if state.stopped_early:
                log.info("early stop after epoch %d (best %d)", epoch, state.best_epoch)
    bar.close()
    model.load_state_dict(state.best_state)
    model.cpu().eval()
    return TrainResult(model=model, history=state.history, best_epoch=state.best_epoch,
                       best_val_micro_f1=state.best_val_micro_f1,
                       stopped_early=state.stopped_early,
                       seconds=time.perf_counter() - start,
                       processes=distributed.world_size())


def _check_amp(amp: bool, device: torch.device) -> None:
    """Log that ``amp`` is ignored off CUDA; refuse it on a GPU without bfloat16."""
    if not amp:
        return
    if device.type != "cuda":
        log.info("amp: mixed precision is for CUDA; training on the %s in float32", device.type)
    elif not torch.cuda.is_bf16_supported():
        raise ConfigError(f"amp uses bfloat16, which {torch.cuda.get_device_name(device)} "
                          "does not support; train without amp")


def fit_classical(model: Any, train: SplitData, val: SplitData, config: TrainConfig, *,
                  log_path: Path | None = None) -> TrainResult:
    """Fit a classical model once and log its validation scores as epoch 1."""
    seed_everything(config.seed)
    start = time.perf_counter()
    model.fit(train.numpy_inputs(), train.labels.astype(np.int64), val.numpy_inputs(),
              val.labels.astype(np.int64))
    val_micro, val_macro = validation_f1(model, val, config.eval_batch_size)
    seconds = time.perf_counter() - start
    row = {"epoch": 1, "val_micro_f1": val_micro, "val_macro_f1": val_macro,
           "seconds": round(seconds, 4)}
    CSVLog(log_path).write(row)
    log.info("fit: val micro-F1 %.4f macro-F1 %.4f, %.1f s", val_micro, val_macro, seconds)
    return TrainResult(model=model, history=[row], best_epoch=1, best_val_micro_f1=val_micro,
                       seconds=seconds)


def fit_model(model: Any, train: SplitData, val: SplitData, config: TrainConfig, *,
              log_path: Path | None = None, checkpoint_dir: Path | None = None,
              resume_from: Path | None = None,
              render_epoch: Callable[[int], SplitData] | None = None) -> TrainResult:
    """:func:`fit_neural` for torch modules, :func:`fit_classical` otherwise.

    Checkpoints and per-epoch renderings apply to neural models only (a classical fit is one
    step: it gets the first epoch's rendering).
    """
    if is_neural(model):
        return fit_neural(model, train, val, config, log_path=log_path,
                          checkpoint_dir=checkpoint_dir, resume_from=resume_from,
                          render_epoch=render_epoch)
    data = render_epoch(1) if render_epoch is not None else train
    return fit_classical(model, data, val, config, log_path=log_path)
