"""Adapt a trained model to a lab's own measured library (``mspectmol finetune``).

A library is a manifest CSV (``sample``, one file column per modality, ``smiles``; the
format of ``mspectmol predict --manifest``): its spectra go through the one preprocessing
path (:func:`mspectmol.predict.pipeline.load_sample`) and its labels come from the SMILES.
:func:`cross_validate` estimates what fine-tuning gains with a k-fold Bemis-Murcko scaffold
cross-validation (molecules sharing a scaffold stay in one fold): for each fold the model
is fine-tuned on the other folds and scored on it, next to the model as it was.
:func:`finetune` then fine-tunes on the whole library and returns the adapted model, its
metadata recording the library, the settings and the cross-validation.

Fine-tuning is plain supervised training from the model's weights: Adam at a small learning
rate (1e-4), the model's own loss, modality dropout as in training, a fixed number of epochs
(no validation set to stop on: a lab library is small). The calibration temperature and
thresholds are kept; the out-of-distribution score is refitted on the library together
with nothing else, so it is dropped when the library has fewer than 200 molecules.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mspectmol.chem.functional_groups import label
from mspectmol.data.batches import SplitData
from mspectmol.data.samples import SampleSpec
from mspectmol.data.splits import murcko_scaffold
from mspectmol.errors import MspectmolError
from mspectmol.evaluation.metrics import macro_f1, micro_f1
from mspectmol.models.inference import predict_logits, probabilities
from mspectmol.models.inputs import load_sample
from mspectmol.models.ood import fit_ood, representations
from mspectmol.spectra.pipeline import PrepareOptions
from mspectmol.training.config import TrainConfig
from mspectmol.training.trainer import seed_everything, torch_threads, train_epoch

#: Fewest library molecules from which the out-of-distribution score is refitted.
MIN_OOD = 200


@dataclass(frozen=True)
class FinetuneSettings:
    """Epochs, learning rate, batch size, modality dropout, folds and seed."""

    epochs: int = 20
    lr: float = 1e-4
    batch_size: int = 32
    modality_dropout: float = 0.3
    folds: int = 5
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.folds < 2:
            raise MspectmolError("finetune needs epochs >= 1, batch size >= 1, folds >= 2")
        if not (self.lr > 0 and 0.0 <= self.modality_dropout < 1.0):
            raise MspectmolError("finetune needs lr > 0 and modality dropout in [0, 1)")


def library_data(meta: Any, samples: list[SampleSpec],
                 options: PrepareOptions | None = None) -> SplitData:
    """The library on the model's grids with labels from the SMILES.

    Raises
    ------
    MspectmolError
        A sample without SMILES, or any reading error (naming the sample's file).
    """
    ids, labels, spectra, avail = [], [], {}, {}
    for spec in samples:
        if not spec.smiles:
            raise MspectmolError(f"sample {spec.name!r}: a library sample needs its SMILES "
                                 "(a 'smiles' column in the manifest)")
        inputs = load_sample(meta, spec, options)
        ids.append(spec.name)
        labels.append(label(spec.smiles))
        for m, x in inputs.spectra.items():
            spectra.setdefault(m, []).append(x)
            avail.setdefault(m, []).append(inputs.available[m])
    if not ids:
        raise MspectmolError("the library holds no samples")
    return SplitData(np.asarray(ids), np.stack(labels).astype(np.uint8),
                     {m: np.stack(v).astype(np.float32) for m, v in spectra.items()},
                     {m: np.asarray(v, dtype=bool) for m, v in avail.items()})


def scaffold_folds(smiles: list[str], k: int, seed: int) -> np.ndarray:
    """Fold index of each molecule: scaffold groups dealt to the ``k`` folds, largest first
    (ties in a seeded random order), each to the currently smallest fold."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        groups.setdefault(murcko_scaffold(s), []).append(i)
    rng = np.random.default_rng(seed)
    keys = list(groups)
    order = sorted(rng.permutation(len(keys)), key=lambda j: -len(groups[keys[j]]))
    folds = np.zeros(len(smiles), dtype=int)
    sizes = np.zeros(k, dtype=int)
    for j in order:
        f = int(np.argmin(sizes))
        folds[groups[keys[j]]] = f
        sizes[f] += len(groups[keys[j]])
    return folds


def _train(model: torch.nn.Module, meta: Any, data: SplitData,
           settings: FinetuneSettings) -> torch.nn.Module:
    tuned = copy.deepcopy(model)
    config = TrainConfig(model=meta.model_name, primary=meta.primary,
                         auxiliary=tuple(meta.auxiliary), seed=settings.seed,
                         batch_size=settings.batch_size, lr=settings.lr,
                         modality_dropout=settings.modality_dropout, progress=False)
    seed_everything(settings.seed)
    optimizer = torch.optim.Adam(tuned.parameters(), lr=settings.lr)
    with torch_threads(settings.threads):
        for epoch in range(1, settings.epochs + 1):
            train_epoch(tuned, optimizer, data, config, epoch, None)
    return tuned.eval()


def _scores(model: torch.nn.Module, meta: Any, data: SplitData) -> dict[str, float]:
    prob = probabilities(predict_logits(model, data), meta.temperature,
                         meta.logit_offsets)
    thresholds = np.asarray(meta.thresholds) if meta.thresholds is not None else 0.5
    return {"micro_f1": micro_f1(data.labels, prob, thresholds),
            "macro_f1": macro_f1(data.labels, prob, thresholds)}


def cross_validate(model: torch.nn.Module, meta: Any, data: SplitData, smiles: list[str],
                   settings: FinetuneSettings) -> list[dict[str, Any]]:
    """Per-fold scores of the model as it was and fine-tuned on the other folds."""
    folds = scaffold_folds(smiles, settings.folds, settings.seed)
    rows = []
    for f in range(settings.folds):
        test = folds == f
        if not test.any() or test.all():
            continue
        tuned = _train(model, meta, data.subset(np.flatnonzero(~test)), settings)
        held = data.subset(np.flatnonzero(test))
        rows.append({"fold": f, "n_train": int((~test).sum()), "n_test": int(test.sum()),
                     "before": _scores(model, meta, held), "after": _scores(tuned, meta, held)})
    return rows


def finetune(model: torch.nn.Module, meta: Any, data: SplitData,
             settings: FinetuneSettings, cv: list[dict[str, Any]], library: str
             ) -> tuple[torch.nn.Module, Any]:
    """The model fine-tuned on the whole library and its updated metadata."""
    tuned = _train(model, meta, data, settings)
    new = copy.deepcopy(meta)
    new.training = {**meta.training, "finetune": {
        "library": library, "n": len(data), "settings": settings.__dict__ | {"threads": None},
        "cross_validation": cv, "base_model_sha256": meta.content_hash}}
    if len(data) >= MIN_OOD:
        reps = representations(tuned, data.spectra, data.available)
        half = len(data) // 2
        new.ood = fit_ood(reps[:half], reps[half:])
    else:
        new.ood = None
    return tuned, new
