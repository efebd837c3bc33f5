"""Training loop of the conformer diffusion model (eq. 32), resumable by epoch.

The model with the lowest validation loss (fixed seeded steps and noise, so comparable between
epochs) is kept. A checkpoint folder (a normal model folder plus ``progress.json``) is written
after every epoch; a rerun with the same folder continues from it (the Adam state restarts).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mspectmol.conformers.data import ConformerRecord, training_batch
from mspectmol.conformers.diffusion import Schedule, diffusion_loss
from mspectmol.conformers.domain import domain_of_records
from mspectmol.conformers.io import load_conformer_model, save_conformer_model
from mspectmol.conformers.model import ConformerConfig, ConformerDenoiser
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


def train_conformer_model(config: ConformerConfig, train: list[ConformerRecord],
                          val: list[ConformerRecord], settings: TrainSettings,
                          folder: Path | None = None) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """Train a model; with ``folder``, checkpoint there each epoch and resume from it.

    Returns the best-validation model (eval mode) and a training summary.
    """
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    if settings.max_train and len(train) > settings.max_train:
        train = [train[i] for i in sorted(rng.choice(len(train), settings.max_train,
                                                     replace=False))]
    val = val[:settings.val_molecules] if settings.val_molecules else val
    model = ConformerDenoiser(config)
    progress: dict[str, Any] = {"epoch": 0, "best_val": float("inf"), "history": [],
                                "seconds": 0.0}
    best_dir = folder / "best" if folder is not None else None
    if folder is not None and (folder / "progress.json").is_file():
        progress = json.loads((folder / "progress.json").read_text())
        model, _ = load_conformer_model(folder / "last")
        model.train()
        log.info("resuming %s at epoch %d", folder, progress["epoch"])
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_dir is not None and (best_dir / "model.json").is_file():
        best_state = load_conformer_model(best_dir)[0].state_dict()
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(settings.epochs, 1))
    for _ in range(progress["epoch"]):
        sched.step()
    schedule = Schedule(config.n_steps)
    gen = torch.Generator().manual_seed(settings.seed + progress["epoch"])
    for epoch in range(progress["epoch"], settings.epochs):
        started, cpu_started = time.perf_counter(), time.process_time()
        model.train()
        order = np.random.default_rng(settings.seed + epoch).permutation(len(train))
        losses = []
        for start in range(0, len(order), settings.batch_size):
            chunk = [train[i] for i in order[start:start + settings.batch_size]]
            x0, graph, spectra, avail = training_batch(chunk, config.modalities)
            out = diffusion_loss(model, x0, graph, schedule, spectra, avail, generator=gen)
            opt.zero_grad()
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            opt.step()
            losses.append(float(out["loss"].detach()))
        sched.step()
        v = validation_loss(model, val)
        progress["seconds"] += time.perf_counter() - started
        progress["cpu_seconds"] = progress.get("cpu_seconds", 0.0) + (time.process_time()
                                                                      - cpu_started)
        progress["epoch"] = epoch + 1
        progress["history"].append({"epoch": epoch + 1, "train": float(np.mean(losses)),
                                    "val": v})
        if v < progress["best_val"]:
            progress["best_val"], progress["best_epoch"] = v, epoch + 1
            best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            if best_dir is not None:
                save_conformer_model(best_dir, model)
        log.info("epoch %d: train %.4f val %.4f (%.0f s)", epoch + 1, np.mean(losses), v,
                 progress["seconds"])
        if folder is not None:
            save_conformer_model(folder / "last", model)
            (folder / "progress.json").write_text(json.dumps(progress, indent=1))
    model.load_state_dict(best_state)
    model.eval()
    summary = {"settings": settings.__dict__, "n_train": len(train), "n_val": len(val),
               "parameters": count_parameters(model), "wall_seconds": progress["seconds"],
               "cpu_seconds": progress.get("cpu_seconds", 0.0),
               "best_epoch": progress.get("best_epoch", 0), "best_val_loss": progress["best_val"],
               "history": progress["history"], "torch_threads": torch.get_num_threads()}
    return model, summary


def choose_refine_start(model: ConformerDenoiser, val: list[ConformerRecord],
                        candidates: tuple[int, ...] | None = None, seed: int = 0
                        ) -> tuple[int, dict[int, float]]:
    """Refinement start step with the lowest mean heavy-atom RMSD to DFT on ``val``.

    One ETKDG + MMFF conformer per molecule (seeded) is refined from each candidate step;
    step 0 (no refinement, i.e. ETKDG + MMFF itself) is always included for reference.
    Default candidates: 4, 10, 20, 30 and 50% of ``T``.
    """
    from mspectmol.conformers.baselines import embed_etkdg
    from mspectmol.conformers.data import mol_with_hs
    from mspectmol.conformers.rmsd import rmsd_to_coords
    from mspectmol.conformers.sample import generate_conformers

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


def train_variant(config: ConformerConfig, records: list[ConformerRecord],
                  settings: TrainSettings, folder: Path, *, refine_val: int = 48
                  ) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """Train one variant on the ``train`` records, pick its refinement step on ``val``, save.

    The finished model is written to ``folder/model`` (a rerun that finds it loads it).
    """
    final = folder / "model"
    if (final / "model.json").is_file():
        return load_conformer_model(final)
    train = [r for r in records if r.split == "train"]
    val = [r for r in records if r.split == "val"]
    if not train or not val:
        raise ValueError("training needs train and val molecules")
    model, summary = train_conformer_model(config, train, val, settings, folder / "checkpoint")
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
    save_conformer_model(final, model, summary, domain)
    return load_conformer_model(final)
