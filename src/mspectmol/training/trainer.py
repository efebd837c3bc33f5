"""Fitting models: the neural training loop with early stopping, and classical fits.

Neural models (paper appendix B): Adam at ``lr`` (4e-4) with cosine annealing over
``epochs`` (100), mini-batches of ``batch_size`` (128) shuffled by :func:`epoch_order`,
optional augmentation of training batches, and after each epoch the validation micro- and
macro-F1 at threshold 0.5. The state with the best validation micro-F1 is kept and restored
at the end; training stops after ``patience`` epochs without improvement. The loss is
:func:`~mspectmol.models.losses.pa_ib_loss` (eq. 14) for PA-IB outputs and binary
cross-entropy with logits otherwise. The epochs are run by the shared training loop
(:func:`mspectmol.models.loop.run_loop`): each appends a row to a CSV log and logs one INFO
line, with or without the progress bar; given a checkpoint folder, the loop writes
checkpoints (:mod:`mspectmol.models.checkpoint`) at epoch ends and every
``config.checkpoint_every`` steps, and a fit resumes from one exactly. Training runs on
``config.device`` (CPU by default, or CUDA); the fitted model is returned on the CPU.
``config.amp`` runs the forward pass and loss under bfloat16 autocast on CUDA.

Inside a process group (torchrun or ``config.devices > 1``) the model is wrapped in
DistributedDataParallel and each rank trains on its share of every global batch; rank 0
alone logs and writes the CSV log and checkpoints (:mod:`mspectmol.training.distributed`).

Classical models are fitted once, with the validation split passed for their own use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mspectmol.data.batches import (
    SplitData,
    augment_rng,
    dataset_hash,
    epoch_order,
    iterate_batches,
)
from mspectmol.errors import ConfigError
from mspectmol.evaluation import macro_f1, micro_f1
from mspectmol.models.checkpoint import Checkpointer, LoopState, load_checkpoint
from mspectmol.models.epoch_log import CSVLog
from mspectmol.models.inference import is_neural, model_device, predict_proba
from mspectmol.models.loop import (
    LoopSettings,
    StepHook,
    autocast,
    run_loop,
    seed_everything,
    torch_threads,
)
from mspectmol.models.losses import pa_ib_loss
from mspectmol.models.pa_ib import PAIBOutput
from mspectmol.spectra.augmentation import Augmenter
from mspectmol.training import distributed
from mspectmol.training.config import RESUME_SETTINGS, TrainConfig

__all__ = ["TrainResult", "fit_classical", "fit_model", "fit_neural", "loss_terms",
           "run_fingerprint", "seed_everything", "torch_threads", "train_epoch",
           "validation_f1"]

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


def run_fingerprint(config: TrainConfig, train: SplitData, val: SplitData) -> dict[str, Any]:
    """What a checkpoint must share with the run resuming it: settings and data.

    The settings that may change on resume (:data:`~mspectmol.training.config.RESUME_SETTINGS`)
    are left out; the training and validation molecules and labels enter as hashes.
    """
    settings = {k: v for k, v in config.to_dict().items() if k not in RESUME_SETTINGS}
    return {"config": settings, "train": dataset_hash(train.ids, train.labels),
            "val": dataset_hash(val.ids, val.labels)}


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


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: SplitData,
                config: TrainConfig, epoch: int, augmenter: Augmenter | None, *,
                resume: LoopState | None = None,
                on_step: StepHook | None = None) -> dict[str, float]:
    """One pass over ``data``; returns the sample-weighted mean of each loss term.

    ``resume`` (a state inside ``epoch``) skips its ``step`` batches, starting from their
    loss sums and augmentation generator state (``step_state``); ``on_step`` receives the
    batches done so far, the loss sums and the augmentation generator's state after each
    optimiser step. ``model`` may be
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
        if resume.step_state is not None:
            rng.bit_generator.state = resume.step_state
        order = order[step * config.batch_size:]
    dropout = {m: config.modality_dropout for m in config.auxiliary}
    for batch in iterate_batches(data, config.batch_size, order=order, augmenter=augmenter,
                                 rng=rng, rank=rank, world_size=world, dropout=dropout):
        batch = batch.to(device)
        distributed.step_seed(config.seed, epoch, step)
        optimizer.zero_grad(set_to_none=True)
        with autocast(config.amp and device.type == "cuda", device):
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
            on_step(step, sums, rng.bit_generator.state)
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
        an uninterrupted run (:mod:`mspectmol.models.checkpoint`).
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
    state = None
    if resume_from is not None:
        state = load_checkpoint(resume_from).restore(model, optimizer, scheduler, fingerprint)
        log.info("resuming at epoch %d after %d batches", state.epoch, state.step)
    net = distributed.wrap(model, device)
    saver = None
    if main and checkpoint_dir is not None and config.checkpoint_every != 0:
        saver = Checkpointer(checkpoint_dir, config.checkpoint_every,
                             -(-len(train) // config.batch_size), model=model,
                             optimizer=optimizer, scheduler=scheduler, fingerprint=fingerprint)

    def epoch_fn(epoch: int, state: LoopState, on_step: StepHook) -> dict[str, float]:
        lr = optimizer.param_groups[0]["lr"]
        data = render_epoch(epoch) if render_epoch is not None else train
        terms = train_epoch(net, optimizer, data, config, epoch, augmenter, resume=state,
                            on_step=on_step)
        scheduler.step()
        distributed.sync_buffers(model)
        return {"lr": lr, **{f"train_{k}": v for k, v in terms.items()}}

    def validate(epoch: int) -> dict[str, float]:
        micro, macro = validation_f1(model, val, config.eval_batch_size)
        return {"val_micro_f1": micro, "val_macro_f1": macro}

    settings = LoopSettings(epochs=config.epochs, monitor="val_micro_f1", mode="max",
                            patience=config.patience, threads=config.threads,
                            progress=config.progress, desc=f"train {config.model}")
    state = run_loop(model, epoch_fn, validate, settings, state=state, checkpointer=saver,
                     log_path=log_path, main=main, logger=log)
    model.cpu().eval()
    best = state.best_score if state.best_score is not None else float("nan")
    return TrainResult(model=model, history=state.history, best_epoch=state.best_epoch,
                       best_val_micro_f1=best, stopped_early=state.stopped_early,
                       seconds=state.seconds, processes=distributed.world_size())


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
