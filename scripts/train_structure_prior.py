"""Train the evidence-conditioned structure generator
(:mod:`mspectmol.structure.generation.prior`).

Corpus: every QM9 structure (qm9pack) except the embedded dataset's validation and test
molecules of the scaffold split and every structure sharing a Murcko scaffold with one;
2% of it (seeded) is kept aside for epoch selection. The decoder reads the formula and four
evidence tokens (functional groups, 13C lines and 1H protons per shift region, and the 13C
line density predicted by CSP5: run ``python -m mspectmol.structure.generation.shift_corpus``
first, or the structures it has not reached train without that token), corrupted in training
(:class:`~mspectmol.structure.generation.prior.CorpusAugment`), with randomised-SMILES
augmentation.
Writes a structure-model folder (safetensors, float16 weights, + JSON).

    python scripts/train_structure_prior.py --out PATH [--epochs 3] [--minutes 45]

To train where RDKit, qm9pack or the caches are missing (a GPU node), first write a training
pack here (the corpus, its 13C lines, the vocabulary and ``--variants`` precomputed randomised
SMILES per structure; one compressed ``.npz``, no pickles), then train from it there:

    python scripts/train_structure_prior.py --write-pack pack.npz --variants 8
    python scripts/train_structure_prior.py --pack pack.npz --device cuda --out PATH ...
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_write
from mspectmol.structure.generation.prior import (
    EVIDENCE,
    N_FEATURES,
    Corpus,
    CorpusAugment,
    EvidenceNoise,
    corpus_features,
)
from mspectmol.structure.model.decoder import StructureConfig
from mspectmol.structure.model.io import save_structure_model
from mspectmol.structure.model.tokens import Vocabulary
from mspectmol.structure.training import DecoderData, TrainSettings, train_decoder

#: Bumped when the training pack's arrays change.
PACK_VERSION = 1


def gather(seed: int, n_variants: int) -> tuple[Corpus, list[np.ndarray | None], Vocabulary,
                                                list[list[str]] | None, str]:
    """Corpus, 13C lines, vocabulary and (``n_variants`` > 0) randomised SMILES, built here
    (needs RDKit, qm9pack and the caches)."""
    from mspectmol.structure.generation.corpus import training_corpus
    from mspectmol.structure.generation.shift_corpus import cached_c13_lines, corpus_folder
    from mspectmol.structure.model.tokens import randomised
    from mspectmol.structure.training import build_vocabulary

    corpus = training_corpus()
    lines, not_computed = cached_c13_lines(corpus.smiles, corpus_folder(), compute=False)
    logging.info("13C lines known for %d of %d structures (%d not computed)",
                 sum(x is not None for x in lines), len(corpus), not_computed)
    vocab = build_vocabulary(corpus.smiles, seed=seed, n_random=1)
    variants = None
    if n_variants:
        rng = np.random.default_rng(seed + 1)
        variants = [[randomised(s, rng) for _ in range(n_variants)] for s in corpus.smiles]
    return corpus, lines, vocab, variants, "QM9 (qm9pack)"


def write_pack(path: Path, seed: int, n_variants: int) -> None:
    """Write :func:`gather`'s output as a training pack (:func:`save_pack`)."""
    save_pack(path, *gather(seed, n_variants))
    print(json.dumps({"pack": str(path), "variants": n_variants,
                      "MiB": path.stat().st_size / 2**20}))


def save_pack(path: Path, corpus: Corpus, lines: list[np.ndarray | None], vocab: Vocabulary,
              variants: list[list[str]] | None, source: str) -> None:
    """One compressed ``.npz`` (strings as JSON or joined text; no pickles), written atomically."""
    sizes = np.array([-1 if x is None else len(x) for x in lines], dtype=np.int32)
    flat = np.concatenate([np.zeros(0, np.float32)] + [x for x in lines if x is not None]
                          ).astype(np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, version=np.array(PACK_VERSION), source=np.array(source),
        smiles=np.array(json.dumps(corpus.smiles)),
        formulas=np.array(json.dumps(corpus.formulas)), labels=corpus.labels,
        c13=corpus.c13, h1=corpus.h1, line_sizes=sizes, lines=flat,
        vocabulary=np.array(json.dumps(list(vocab.tokens))),
        variants=np.array("\n".join(" ".join(v) for v in variants or [])))
    atomic_write(path, buffer.getvalue())


def read_pack(path: Path) -> tuple[Corpus, list[np.ndarray | None], Vocabulary,
                                   list[list[str]] | None, str]:
    """What :func:`save_pack` wrote; needs neither RDKit nor qm9pack."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != PACK_VERSION:
                raise MspectmolError(f"{path}: training pack version {int(z['version'])}, "
                                     f"this script reads {PACK_VERSION}")
            smiles = json.loads(str(z["smiles"]))
            corpus = Corpus(smiles, json.loads(str(z["formulas"])), z["labels"], z["c13"],
                            z["h1"])
            sizes, flat = z["line_sizes"], z["lines"]
            vocab = Vocabulary(tuple(json.loads(str(z["vocabulary"]))))
            text = str(z["variants"])
            source = str(z["source"])
    except (OSError, ValueError, KeyError) as exc:
        raise MspectmolError(f"{path}: not a readable training pack ({exc})") from exc
    ends = np.cumsum(np.clip(sizes, 0, None))
    lines = [None if n < 0 else flat[e - n:e] for n, e in zip(sizes, ends, strict=True)]
    variants = [row.split(" ") for row in text.split("\n")] if text else None
    if len(lines) != len(smiles) or (variants is not None and len(variants) != len(smiles)):
        raise MspectmolError(f"{path}: the pack's arrays differ in length")
    return corpus, lines, vocab, variants, source


def write_card(folder: Path) -> None:
    """``MODEL_CARD.md`` from the model file's training record."""
    from mspectmol.structure.model.io import read_structure_meta

    meta = read_structure_meta(folder)
    rec, cfg = meta.training, meta.config
    epochs = rec.get("epochs", [])
    lines = [
        "# Structure generator `prior`", "",
        "Evidence-conditioned SMILES generator (`mspectmol elucidate --generate N`, benchmark "
        "rows `denovo_prior/...`): the formula plus four evidence tokens (functional-group "
        "probabilities, 13C lines per shift region, 1H protons per shift region, 13C line "
        "density) -> SMILES, "
        "sampled many times and re-ranked by simulated NMR "
        "(`mspectmol.structure.generation.generator`).",
        "",
        f"- Corpus: {rec.get('corpus')}: {rec.get('n_train')} training structures, "
        f"{rec.get('n_val')} for epoch selection. Test molecules and their scaffolds are "
        "not in it. 13C lines (CSP5 on one ETKDG conformer, "
        "`python -m mspectmol.structure.generation.shift_corpus`) known for "
        f"{rec.get('c13_lines_known')} structures.",
        f"- Decoder: d_model {cfg['d_model']}, {cfg['n_decoder_layers']} decoder layers, "
        f"{cfg['n_encoder_layers']} memory layer(s), vocabulary {cfg['vocab_size']} tokens; "
        "float16 weights.",
        f"- Training: {len(epochs)} epochs, {epochs[-1]['minutes']:.1f} min on "
        f"{rec.get('device', '2 CPU threads')}; "
        f"best validation token cross-entropy {rec.get('best_val_loss', float('nan')):.4f}; "
        "randomised SMILES (p=0.5); evidence corrupted as "
        f"{rec.get('noise')}.",
        "- Test scores: `mspectmol benchmark --suite structure --set only=denovo_prior` "
        "(benchmarks/results/structure-prior).", "",
        f"Rebuild: `{rec.get('command', 'python scripts/train_structure_prior.py')}` "
        "(needs qm9pack, or a training pack written with `--write-pack`).", "",
        "```json", json.dumps(epochs, indent=1), "```", ""]
    (folder / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write-pack", type=Path, help="write a training pack and stop")
    parser.add_argument("--variants", type=int, default=8,
                        help="randomised SMILES per structure in a written pack")
    parser.add_argument("--pack", type=Path, help="train from this pack (no RDKit needed)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--lr", type=float, default=1e-3)
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
    if args.write_pack:
        write_pack(args.write_pack, args.seed, args.variants)
        return
    if args.out is None:
        parser.error("--out is required unless --write-pack is given")
    started = time.perf_counter()
    command = " ".join(["python scripts/train_structure_prior.py", *sys.argv[1:]])
    corpus, lines, vocab, variants, source = (read_pack(args.pack) if args.pack
                                              else gather(args.seed, 0))
    known = sum(x is not None for x in lines)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(corpus))
    n_val = max(1, len(corpus) // 50)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    if args.max_train:
        train_idx = train_idx[:args.max_train]
    feats, avail = corpus_features(corpus, lines)

    def data(idx: np.ndarray) -> DecoderData:
        return DecoderData(feats[idx], avail[idx], [corpus.smiles[i] for i in idx],
                           [corpus.formulas[i] for i in idx],
                           None if variants is None else [variants[i] for i in idx],
                           canonicalise=args.pack is None)

    train, val = data(train_idx), data(val_idx)
    config = StructureConfig(vocab_size=len(vocab), n_features=N_FEATURES,
                             n_modalities=len(EVIDENCE), n_tokens=1, memory="evidence",
                             d_model=args.d_model, n_heads=4, n_encoder_layers=1,
                             n_decoder_layers=args.layers, ff_dim=4 * args.d_model,
                             dropout=0.1, max_len=64)
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             warmup_steps=300, random_smiles=0.5, formula_dropout=0.0,
                             aux_dropout=0.0, max_minutes=args.minutes, seed=args.seed,
                             device=args.device)
    noise = CorpusAugment(EvidenceNoise(), [lines[i] for i in train_idx])
    model, history = train_decoder(config, vocab, train, val, settings, augment=noise)
    record = {"variant": "evidence-prior", "corpus": f"{source} minus the embedded "
              "dataset's scaffold-split validation/test molecules and their scaffolds",
              "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
              else f"CPU, {args.threads} threads",
              "smiles_variants": "precomputed, pack" if variants is not None else "RDKit",
              "n_train": len(train.smiles), "n_val": len(val.smiles),
              "evidence": list(EVIDENCE), "noise": noise.settings(),
              "c13_lines_known": known, "command": command, **history,
              "wall_minutes": (time.perf_counter() - started) / 60}
    save_structure_model(args.out, model, vocab, [f"evidence:{e}" for e in EVIDENCE],
                         training=record, half=True)
    write_card(args.out)
    print(json.dumps({k: record[k] for k in ("n_train", "n_val", "best_val_loss")}))


if __name__ == "__main__":
    main()
