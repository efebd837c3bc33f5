"""Building a structure decoder on the embedded dataset: ``mspectmol train --task structure``.

:func:`build_decoder` trains a variant of :data:`~mspectmol.structure.model.variants.VARIANTS`
(default ``pa_ib``: the SMILES decoder reading the frozen features of the packaged PA-IB
model :data:`~mspectmol.structure.model.variants.STRUCTURE_ENCODER`) on the training part of
the embedded dataset's split (validation part: epoch selection), with randomised-SMILES
augmentation, formula dropout and auxiliary-spectrum dropout
(:mod:`mspectmol.structure.training`). The test part is not touched: ``mspectmol benchmark
--suite structure`` evaluates it.

The ranking weights of ``mspectmol elucidate`` (decoder log-likelihood, functional-group
agreement, spectral similarity) are then chosen on QM9-size validation molecules in the
library-search setting with perturbed spectra
(:mod:`mspectmol.structure.ranking.library_search`) and stored in the model's training
record (``ranking_weights``); ``weights_only`` redoes only that step for an existing model.
The model folder also receives ``MODEL_CARD.md``, which records the command that built it.
The packaged ``default`` structure model is built by :class:`DecoderRecipe`'s defaults.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mspectmol.data.dataset import EmbeddedDataset, load_dataset
from mspectmol.errors import MspectmolError
from mspectmol.models.loop import torch_threads
from mspectmol.structure.elucidation.elucidator import Elucidator
from mspectmol.structure.model.io import load_structure_model, save_structure_model
from mspectmol.structure.model.variants import (
    MODALITIES,
    VARIANTS,
    encoder_reference,
    train_variant,
)
from mspectmol.structure.ranking.library_search import (
    formula_groups,
    library_cases,
    select_weights,
)
from mspectmol.structure.training import TrainSettings

log = logging.getLogger("mspectmol.structure")


@dataclass
class DecoderRecipe:
    """How :func:`build_decoder` builds a decoder (the defaults build the packaged one).

    Attributes
    ----------
    variant
        One of :data:`~mspectmol.structure.model.variants.VARIANTS`.
    epochs, minutes
        Epochs at most, and the time budget (stop after the epoch that passes it; 0: none).
    batch_size, lr, seed, device, threads
        Optimisation settings, torch device and torch threads.
    split, max_train
        The embedded dataset's split, and a seeded subset of its training part (0: all).
    ranking_val
        Validation molecules (at most 9 heavy atoms) for choosing the ranking weights
        (0: keep the default weights).
    weights_only
        Keep the model at the output folder; only choose the ranking weights again.
    command
        The command line recorded in the model card.
    """

    variant: str = "pa_ib"
    epochs: int = 8
    minutes: float = 14.0
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    threads: int | None = 1
    split: str = "scaffold"
    max_train: int = 0
    ranking_val: int = 150
    weights_only: bool = False
    command: str = ""

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise MspectmolError(f"unknown structure variant {self.variant!r}; known: "
                                 f"{', '.join(VARIANTS)}, prior")


def choose_ranking_weights(out: Path, ds: EmbeddedDataset, encoder: object, n_val: int,
                           seed: int) -> dict[str, float]:
    """Choose the ranking weights of the model at ``out`` on ``n_val`` validation molecules
    and store them in its training record; returns them."""
    model, vocab, meta = load_structure_model(out)
    record = dict(meta.training)
    val = ds.split_indices(record.get("split", "scaffold"), "val")
    val = val[ds.heavy_atoms[val] <= 9]
    val = np.sort(np.random.default_rng(seed + 1).choice(val, min(n_val, val.size),
                                                         replace=False))
    eluc = Elucidator(model, vocab, meta, encoder)
    cases = library_cases(eluc, ds, val, formula_groups(ds.smiles), perturbed=True,
                          seed=seed + 11)
    weights, score = select_weights(cases)
    record["ranking_weights"] = weights.to_dict()
    record["ranking_validation"] = {"n": int(val.size), **score,
                                    "setting": "library search, perturbed spectra"}
    save_structure_model(out, model, vocab, list(meta.modalities), encoder=meta.encoder,
                         training=record)
    return weights.to_dict()


def write_card(out: Path, command: str) -> None:
    """``MODEL_CARD.md`` of the decoder at ``out`` from its training record."""
    _, vocab, meta = load_structure_model(out)
    record = meta.training
    epochs = record.get("epochs", [])
    encoder = (meta.encoder or {}).get("model")
    memory = (f"the frozen features of the packaged PA-IB model `{encoder}` (IR primary, "
              "1H/13C-NMR auxiliary)" if encoder else "the spectra")
    lines = [
        f"# Structure model `{out.name}`", "",
        f"SMILES decoder (appendix S.2, variant `{record.get('variant')}`) on {memory}, "
        "optionally conditioned on the molecular formula.", "",
        f"- Training: {record.get('split')} split, {record.get('n_train')} training molecules, "
        f"{record.get('n_val')} validation molecules (epoch selection by validation loss).",
        f"- Vocabulary: {len(vocab)} tokens. Epochs run: {len(epochs)} "
        f"({record.get('minutes', float('nan')):.1f} min).",
        f"- Best validation token cross-entropy: {record.get('best_val_loss', float('nan')):.4f}",
        "- Augmentation: randomised SMILES (p=0.5), formula hidden (p=0.5), NMR hidden (p=0.3).",
    ]
    if "ranking_weights" in record:
        v = record["ranking_validation"]
        lines.append(f"- Ranking weights (chosen on {v['n']} validation molecules, library "
                     f"search with perturbed spectra): {record['ranking_weights']}; validation "
                     f"top-1 {v['top1']:.3f}, MRR {v['mrr']:.3f}.")
    lines += ["- Test scores: `mspectmol benchmark --suite structure` "
              "(benchmarks/results/structure/table.md).", "",
              f"Rebuild: `{command}`.", "", "```json", json.dumps(epochs, indent=1), "```", ""]
    (out / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")


def build_decoder(out: Path, recipe: DecoderRecipe | None = None) -> Path:
    """Train (unless ``weights_only``) a decoder into the folder ``out``, choose its ranking
    weights and write its card; returns ``out``."""
    r = recipe or DecoderRecipe()
    out = Path(out)
    with torch_threads(r.threads):
        ds = load_dataset(MODALITIES)
        encoder, ref = encoder_reference(None)
        if not r.weights_only:
            settings = TrainSettings(epochs=r.epochs, batch_size=r.batch_size, lr=r.lr,
                                     max_minutes=r.minutes, seed=r.seed, device=r.device)
            train_variant(ds, r.variant, encoder, ref, out, settings, split=r.split,
                          max_train=r.max_train)
        if r.ranking_val:
            chosen = choose_ranking_weights(out, ds, encoder, r.ranking_val, r.seed)
            log.info("ranking weights: %s", chosen)
    write_card(out, r.command or f"mspectmol train --task structure --output {out}")
    return out
