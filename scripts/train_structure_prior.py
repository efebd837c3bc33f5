"""Train the evidence-conditioned structure generator (:mod:`mspectmol.structure.prior`).

Corpus: every QM9 structure (qm9pack) except the embedded dataset's validation and test
molecules of the scaffold split and every structure sharing a Murcko scaffold with one;
2% of it (seeded) is kept aside for epoch selection. The decoder reads the formula and four
evidence tokens (functional groups, 13C lines and 1H protons per shift region, and the 13C
line density predicted by CSP5: run ``python -m mspectmol.structure.shift_corpus`` first, or
the structures it has not reached train without that token), corrupted in training
(:class:`~mspectmol.structure.prior.CorpusAugment`), with randomised-SMILES augmentation.
Writes a structure-model folder (safetensors, float16 weights, + JSON).

    python scripts/train_structure_prior.py --out PATH [--epochs 3] [--minutes 45]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from mspectmol.structure.decoder import StructureConfig
from mspectmol.structure.io import save_structure_model
from mspectmol.structure.prior import (
    EVIDENCE,
    N_FEATURES,
    CorpusAugment,
    EvidenceNoise,
    corpus_features,
    training_corpus,
)
from mspectmol.structure.shift_corpus import cached_c13_lines, corpus_folder
from mspectmol.structure.training import DecoderData, TrainSettings, build_vocabulary, train_decoder


def write_card(folder: Path) -> None:
    """``MODEL_CARD.md`` from the model file's training record."""
    from mspectmol.structure.io import read_structure_meta

    meta = read_structure_meta(folder)
    rec, cfg = meta.training, meta.config
    epochs = rec.get("epochs", [])
    lines = [
        "# Structure generator `prior`", "",
        "Evidence-conditioned SMILES generator (`mspectmol elucidate --generate N`, benchmark "
        "rows `denovo_prior/...`): the formula plus four evidence tokens (functional-group "
        "probabilities, 13C lines per shift region, 1H protons per shift region, 13C line "
        "density) -> SMILES, "
        "sampled many times and re-ranked by simulated NMR (`mspectmol.structure.denovo`).",
        "",
        f"- Corpus: {rec.get('corpus')}: {rec.get('n_train')} training structures, "
        f"{rec.get('n_val')} for epoch selection. Test molecules and their scaffolds are "
        "not in it. 13C lines (CSP5 on one ETKDG conformer, "
        "`python -m mspectmol.structure.shift_corpus`) known for "
        f"{rec.get('c13_lines_known')} structures.",
        f"- Decoder: d_model {cfg['d_model']}, {cfg['n_decoder_layers']} decoder layers, "
        f"{cfg['n_encoder_layers']} memory layer(s), vocabulary {cfg['vocab_size']} tokens; "
        "float16 weights.",
        f"- Training: {len(epochs)} epochs, {epochs[-1]['minutes']:.1f} min on 2 CPU threads; "
        f"best validation token cross-entropy {rec.get('best_val_loss', float('nan')):.4f}; "
        "randomised SMILES (p=0.5); evidence corrupted as "
        f"{rec.get('noise')}.",
        "- Test scores: `mspectmol benchmark --suite structure --set only=denovo_prior` "
        "(benchmarks/results/structure-prior).", "",
        "Rebuild: `python scripts/train_structure_prior.py --out "
        "src/mspectmol/structure/pretrained/prior --epochs 6 --d-model 192 --layers 4` "
        "(needs qm9pack).", "", "```json", json.dumps(epochs, indent=1), "```", ""]
    (folder / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--max-train", type=int, default=0, help="subsample (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    corpus = training_corpus()
    lines, not_computed = cached_c13_lines(corpus.smiles, corpus_folder(), compute=False)
    known = sum(x is not None for x in lines)
    logging.info("13C lines known for %d of %d structures (%d not computed)", known,
                 len(corpus), not_computed)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(corpus))
    n_val = max(1, len(corpus) // 50)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    if args.max_train:
        train_idx = train_idx[:args.max_train]
    feats, avail = corpus_features(corpus, lines)

    def data(idx: np.ndarray) -> DecoderData:
        return DecoderData(feats[idx], avail[idx], [corpus.smiles[i] for i in idx],
                           [corpus.formulas[i] for i in idx])

    train, val = data(train_idx), data(val_idx)
    vocab = build_vocabulary(corpus.smiles, seed=args.seed, n_random=1)
    config = StructureConfig(vocab_size=len(vocab), n_features=N_FEATURES,
                             n_modalities=len(EVIDENCE), n_tokens=1, memory="evidence",
                             d_model=args.d_model, n_heads=4, n_encoder_layers=1,
                             n_decoder_layers=args.layers, ff_dim=4 * args.d_model,
                             dropout=0.1, max_len=64)
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3,
                             warmup_steps=300, random_smiles=0.5, formula_dropout=0.0,
                             aux_dropout=0.0, max_minutes=args.minutes, seed=args.seed)
    noise = CorpusAugment(EvidenceNoise(), [lines[i] for i in train_idx])
    model, history = train_decoder(config, vocab, train, val, settings, augment=noise)
    record = {"variant": "evidence-prior", "corpus": "QM9 (qm9pack) minus the embedded "
              "dataset's scaffold-split validation/test molecules and their scaffolds",
              "n_train": len(train.smiles), "n_val": len(val.smiles),
              "evidence": list(EVIDENCE), "noise": noise.settings(),
              "c13_lines_known": known, **history,
              "wall_minutes": (time.perf_counter() - started) / 60}
    save_structure_model(args.out, model, vocab, [f"evidence:{e}" for e in EVIDENCE],
                         training=record, half=True)
    write_card(args.out)
    print(json.dumps({k: record[k] for k in ("n_train", "n_val", "best_val_loss")}))


if __name__ == "__main__":
    main()
