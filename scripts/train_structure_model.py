"""Train the structure model that ships with mspectmol (SMILES decoder on PA-IB features).

The decoder reads the frozen features of the packaged default PA-IB model (IR primary,
1H/13C-NMR auxiliary) and is trained on the training part of the embedded dataset's scaffold
split (validation part: epoch selection), with randomised-SMILES augmentation, formula
dropout and auxiliary-spectrum dropout (see :mod:`mspectmol.structure.training`). The test
part is not touched here: ``mspectmol benchmark --suite structure`` evaluates it.

The ranking weights of ``mspectmol elucidate`` (decoder log-likelihood, functional-group
agreement, spectral similarity) are then chosen on QM9-size validation molecules in the
library-search setting with perturbed spectra
(:mod:`mspectmol.structure.ranking.library_search`) and stored in the model's training
record (``ranking_weights``). ``--weights-only`` redoes only that step for an existing
model.

    OMP_NUM_THREADS=1 python scripts/train_structure_model.py [--epochs 8] [--minutes 14]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from mspectmol.data.dataset import load_dataset
from mspectmol.structure.elucidation.elucidator import Elucidator
from mspectmol.structure.model.io import load_structure_model, save_structure_model
from mspectmol.structure.model.variants import MODALITIES, encoder_reference, train_variant
from mspectmol.structure.pretrained import DEFAULT_STRUCTURE_MODEL
from mspectmol.structure.ranking.library_search import (
    formula_groups,
    library_cases,
    select_weights,
)
from mspectmol.structure.training import TrainSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=14.0,
                        help="stop after the epoch that passes this many minutes")
    parser.add_argument("--out", type=Path, default=DEFAULT_STRUCTURE_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights-only", action="store_true",
                        help="keep the trained model, only choose the ranking weights again")
    parser.add_argument("--n-val", type=int, default=150,
                        help="validation molecules (at most 9 heavy atoms) for the weights")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ds = load_dataset(MODALITIES)
    encoder, ref = encoder_reference(None)
    if not args.weights_only:
        settings = TrainSettings(epochs=args.epochs, max_minutes=args.minutes, seed=args.seed)
        train_variant(ds, "pa_ib", encoder, ref, args.out, settings)
    model, vocab, meta = load_structure_model(args.out)
    record = dict(meta.training)
    val = ds.split_indices("scaffold", "val")
    val = val[ds.heavy_atoms[val] <= 9]
    val = np.sort(np.random.default_rng(args.seed + 1).choice(val, min(args.n_val, val.size),
                                                              replace=False))
    eluc = Elucidator(model, vocab, meta, encoder)
    cases = library_cases(eluc, ds, val, formula_groups(ds.smiles), perturbed=True,
                          seed=args.seed + 11)
    weights, score = select_weights(cases)
    record["ranking_weights"] = weights.to_dict()
    record["ranking_validation"] = {"n": int(val.size), **score,
                                    "setting": "library search, perturbed spectra"}
    save_structure_model(args.out, model, vocab, list(MODALITIES), encoder=meta.encoder,
                         training=record)
    epochs = record["epochs"]
    lines = [
        "# Structure model `default`", "",
        "SMILES decoder (appendix S.2) on the frozen features of the packaged default PA-IB "
        "model (IR primary, 1H/13C-NMR auxiliary; gated per-band features T_m/T_a, 10 bands "
        "pooled per memory token), optionally conditioned on the molecular formula.", "",
        f"- Training: scaffold split, {record['n_train']} training molecules, "
        f"{record['n_val']} validation molecules (epoch selection by validation loss).",
        f"- Vocabulary: {len(vocab)} tokens. Epochs run: {len(epochs)} "
        f"({epochs[-1]['minutes']:.1f} min on 1 CPU thread).",
        f"- Best validation token cross-entropy: {record.get('best_val_loss', float('nan')):.4f}",
        "- Augmentation: randomised SMILES (p=0.5), formula hidden (p=0.5), NMR hidden (p=0.3).",
        f"- Ranking weights (chosen on {val.size} validation molecules, library search with "
        f"perturbed spectra): {weights.to_dict()}; validation top-1 {score['top1']:.3f}, "
        f"MRR {score['mrr']:.3f}.",
        "- Test scores: `mspectmol benchmark --suite structure` "
        "(benchmarks/results/structure/table.md).", "",
        "Rebuild: `OMP_NUM_THREADS=1 python scripts/train_structure_model.py`.", "",
        "```json", json.dumps(epochs, indent=1), "```", "",
    ]
    (args.out / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
