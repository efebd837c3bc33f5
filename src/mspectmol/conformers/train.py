"""Training of the conformer diffusion model (eq. 32), resumable from a checkpoint.

The epochs are run by the shared training loop (:func:`mspectmol.models.loop.run_loop`):
Adam with cosine annealing over the epochs, gradient clipping, the model with the lowest
validation loss (fixed seeded steps and noise, so comparable between epochs) kept, one log
line per epoch. Given a checkpoint folder, a checkpoint (:mod:`mspectmol.models.checkpoint`:
model, optimiser, scheduler and generator states) is written after every epoch and a rerun
with the same folder continues from it exactly. :func:`train_model` also picks the
refinement start step on validation molecules and writes the model file;
:func:`build_conformer_model` does so on the QM9 molecules of the embedded dataset (DFT
geometries as targets, spectra as conditions): ``mspectmol train --task conformers``, whose
defaults (:class:`ConformerRecipe`) build the packaged model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mspectmol.conformers.baselines import embed_etkdg
from mspectmol.conformers.data import (
    ConformerRecord,
    load_conformer_records,
    mol_with_hs,
    training_batch,
)
from mspectmol.conformers.diffusion import Schedule, diffusion_loss
from mspectmol.conformers.domain import domain_of_records
from mspectmol.conformers.io import load_conformer_model, save_conformer_model
from mspectmol.conformers.model import ConformerConfig, ConformerDenoiser
from mspectmol.conformers.rmsd import rmsd_to_coords
from mspectmol.conformers.sample import generate_conformers
from mspectmol.models.checkpoint import LAST_NAME, Checkpointer, LoopState, load_checkpoint
from mspectmol.models.loop import (
    LoopSettings,
    StepHook,
    optimizer_step,
    run_loop,
    seed_everything,
    torch_threads,
)
from mspectmol.models.pa_ib import count_parameters

log = logging.getLogger("mspectmol.conformers")


@dataclass
class TrainSettings:
    """Optimisation settings (JSON-serialisable)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    grad_clip: float = 5.0
    val_molecules: int = 256
    max_train: int = 0


def validation_loss(model: ConformerDenoiser, records: list[ConformerRecord],
                    batch_size: int = 64, seed: int = 1234) -> float:
    """Mean eq. 32 loss with seeded steps and noise (comparable between epochs and models)."""
    schedule = Schedule(model.config.n_steps)
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(records), batch_size):
            chunk = records[start:start + batch_size]
            x0, graph, spectra, avail = training_batch(chunk, model.config.modalities)
            out = diffusion_loss(model, x0, graph, schedule, spectra, avail, generator=gen)
            total += float(out["global"] + out["local"]) * len(chunk)
            count += len(chunk)
    return total / max(count, 1)


def _fingerprint(config: ConformerConfig, settings: TrainSettings,
                 train: list[ConformerRecord], val: list[ConformerRecord]) -> dict[str, Any]:
    """What a checkpoint must share with the run resuming it: settings, model and data."""
    def digest(records: list[ConformerRecord]) -> str:
        ids = [(r.id, r.smiles) for r in records]
        return hashlib.sha256(json.dumps(ids).encode("utf-8")).hexdigest()

    return {"config": {**asdict(settings), "model": config.to_dict()}, "train": digest(train),
            "val": digest(val)}


def train_conformer_model(config: ConformerConfig, train: list[ConformerRecord],
                          val: list[ConformerRecord], settings: TrainSettings,
                          folder: Path | None = None) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """Train a model; with ``folder``, checkpoint there each epoch and resume from it.

    Returns the best-validation model (eval mode) and a training summary.
    """
    seed_everything(settings.seed)
    rng = np.random.default_rng(settings.seed)
    if settings.max_train and len(train) > settings.max_train:
        train = [train[i] for i in sorted(rng.choice(len(train), settings.max_train,
                                                     replace=False))]
    val = val[:settings.val_molecules] if settings.val_molecules else val
    model = ConformerDenoiser(config)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(settings.epochs, 1))
    schedule = Schedule(config.n_steps)
    gen = torch.Generator().manual_seed(settings.seed)
    state, saver = None, None
    if folder is not None:
        fingerprint = _fingerprint(config, settings, train, val)
        if (Path(folder) / LAST_NAME).is_file():
            state = load_checkpoint(folder).restore(model, opt, sched, fingerprint)
            gen.set_state(torch.tensor(state.carry["generator"], dtype=torch.uint8))
            log.info("resuming %s at epoch %d", folder, state.epoch)
        steps = -(-len(train) // settings.batch_size)
        saver = Checkpointer(folder, None, steps, model=model, optimizer=opt, scheduler=sched,
                             fingerprint=fingerprint)

    def epoch_fn(epoch: int, state: LoopState, on_step: StepHook) -> dict[str, float]:
        model.train()
        order = np.random.default_rng(settings.seed + epoch - 1).permutation(len(train))
        losses = []
        for start in range(0, len(order), settings.batch_size):
            chunk = [train[i] for i in order[start:start + settings.batch_size]]
            x0, graph, spectra, avail = training_batch(chunk, config.modalities)
            out = diffusion_loss(model, x0, graph, schedule, spectra, avail, generator=gen)
            optimizer_step(out["loss"], opt, clip=(model.parameters(), settings.grad_clip))
            losses.append(float(out["loss"].detach()))
        sched.step()
        state.carry["generator"] = gen.get_state().tolist()
        return {"train_loss": float(np.mean(losses))}

    def validate(epoch: int) -> dict[str, float]:
        return {"val_loss": validation_loss(model, val)}

    done = run_loop(model, epoch_fn, validate, LoopSettings(epochs=settings.epochs,
                                                            desc="train conformers"),
                    state=state, checkpointer=saver, logger=log)
    model.eval()
    summary = {"settings": asdict(settings), "n_train": len(train), "n_val": len(val),
               "parameters": count_parameters(model), "wall_seconds": done.seconds,
               "cpu_seconds": done.cpu_seconds, "best_epoch": done.best_epoch,
               "best_val_loss": done.best_score, "history": done.history,
               "torch_threads": torch.get_num_threads()}
    return model, summary


def choose_refine_start(model: ConformerDenoiser, val: list[ConformerRecord],
                        candidates: tuple[int, ...] | None = None, seed: int = 0
                        ) -> tuple[int, dict[int, float]]:
    """Refinement start step with the lowest mean heavy-atom RMSD to DFT on ``val``.

    One ETKDG + MMFF conformer per molecule (seeded) is refined from each candidate step;
    step 0 (no refinement, i.e. ETKDG + MMFF itself) is always included for reference.
    Default candidates: 4, 10, 20, 30 and 50% of ``T``.
    """
    n_steps = model.config.n_steps
    if candidates is None:
        candidates = tuple(max(1, round(f * n_steps)) for f in (0.04, 0.1, 0.2, 0.3, 0.5))
    steps = sorted({0, *(c for c in candidates if 0 < c <= n_steps)})
    errors: dict[int, list[float]] = {s: [] for s in steps}
    for k, rec in enumerate(val):
        mol = mol_with_hs(rec.smiles)
        init = embed_etkdg(mol, 1, seed + k, mmff=True)
        for s in steps:
            if s == 0:
                errors[s].append(rmsd_to_coords(mol, init[0], rec.ref_coords))
                continue
            gen = generate_conformers(model, rec.smiles, 1, spectra=rec.spectra, mode="refine",
                                      t_start=s, seed=seed + k, init_coords=init, mol=mol)
            errors[s].append(rmsd_to_coords(mol, gen.coords[0], rec.ref_coords))
    means = {s: float(np.mean(v)) for s, v in errors.items()}
    best = min((s for s in steps if s > 0), key=lambda s: means[s])
    return best, means


def train_model(config: ConformerConfig, records: list[ConformerRecord],
                settings: TrainSettings, out: Path, *, checkpoint: Path | None = None,
                refine_val: int = 48) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """Train on the ``train`` records, pick the refinement step on ``val``, save to ``out``.

    ``checkpoint`` is the checkpoint folder of :func:`train_conformer_model` (a rerun
    continues from it); its checkpoint is removed once the model is written. The model file
    records the training summary and the training domain.
    """
    train = [r for r in records if r.split == "train"]
    val = [r for r in records if r.split == "val"]
    if not train or not val:
        raise ValueError("training needs train and val molecules")
    model, summary = train_conformer_model(config, train, val, settings, checkpoint)
    started = time.perf_counter()
    subset = [val[i] for i in np.random.default_rng(settings.seed).permutation(len(val))
              [:refine_val]]
    best, means = choose_refine_start(model, subset, seed=settings.seed)
    model.config.refine_t_start = best
    summary["refine_selection"] = {"n_val": len(subset), "mean_rmsd_by_t_start": means,
                                   "chosen": best,
                                   "seconds": time.perf_counter() - started}
    domain = domain_of_records((r.smiles for r in train),
                               f"{len(train)} training molecules of the embedded dataset")
    save_conformer_model(out, model, summary, domain)
    if checkpoint is not None:
        (checkpoint / LAST_NAME).unlink(missing_ok=True)
        if not any(checkpoint.iterdir()):
            checkpoint.rmdir()
    return load_conformer_model(out)


def train_variant(config: ConformerConfig, records: list[ConformerRecord],
                  settings: TrainSettings, folder: Path, *, refine_val: int = 48
                  ) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """:func:`train_model` into ``folder/model`` (checkpoints in ``folder/checkpoint``); a
    rerun that finds the finished model loads it."""
    final = folder / "model"
    if (final / "model.json").is_file():
        return load_conformer_model(final)
    return train_model(config, records, settings, final, checkpoint=folder / "checkpoint",
                       refine_val=refine_val)


@dataclass
class ConformerRecipe:
    """How :func:`build_conformer_model` trains (the defaults build the packaged model).

    Attributes
    ----------
    variant
        The spectrum encoder: ``pa_ib``, ``attention`` or ``none`` (no spectra).
    primary, auxiliary
        The spectra the model is conditioned on.
    split
        The embedded dataset's split scheme (``scaffold`` or ``random``).
    epochs, batch_size, lr, seed, max_train
        Optimisation settings (``max_train``: a seeded subset of the training molecules,
        0: all).
    hidden, n_steps
        Hidden width and diffusion steps of the model.
    refine_val
        Validation molecules for choosing the refinement start step.
    threads
        Torch threads.
    """

    variant: str = "pa_ib"
    primary: str = "ir"
    auxiliary: tuple[str, ...] = ("raman",)
    split: str = "scaffold"
    epochs: int = 12
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    max_train: int = 0
    hidden: int = 96
    n_steps: int = 50
    refine_val: int = 32
    threads: int | None = 1


def build_conformer_model(out: Path, recipe: ConformerRecipe | None = None
                          ) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """Train a conformer model on the embedded dataset into the folder ``out`` (checkpoints
    in ``out/checkpoint`` until it is written; a rerun continues from them)."""
    r = recipe or ConformerRecipe()
    config = ConformerConfig(spectrum_encoder=r.variant, primary=r.primary,
                             auxiliary=tuple(r.auxiliary), hidden=r.hidden, n_steps=r.n_steps)
    settings = TrainSettings(epochs=r.epochs, batch_size=r.batch_size, lr=r.lr, seed=r.seed,
                             max_train=r.max_train)
    with torch_threads(r.threads):
        records = load_conformer_records((r.primary, *r.auxiliary), split_scheme=r.split)
        return train_model(config, records, settings, Path(out),
                           checkpoint=Path(out) / "checkpoint", refine_val=r.refine_val)
