"""Building the evidence-conditioned structure generator (:mod:`.prior`):
``mspectmol train --task structure --variant prior``.

Corpus (``corpus``, :mod:`~mspectmol.structure.generation.corpus`): every QM9 structure
(qm9pack; ``qm9``, the default) or drug-size structures (a MOSES sample and the embedded
dataset v2's training molecules; ``drug``), except the embedded dataset's validation and test
molecules of the scaffold split and every structure sharing a Murcko scaffold with one;
2% of it (seeded) is kept aside for epoch selection. The decoder reads the formula and four
evidence tokens (functional groups, 13C lines and 1H protons per shift region, and the 13C
line density predicted by CSP5: run ``python -m mspectmol.structure.generation.shift_corpus``
first, or the structures it has not reached train without that token), corrupted in training
(:class:`~mspectmol.structure.generation.prior.CorpusAugment`), with randomised-SMILES
augmentation. :func:`build_prior` writes a structure-model folder (float16 weights) and its
``MODEL_CARD.md``, which records the command that built it.

To train where RDKit, qm9pack or the caches are missing (a GPU node), first write a training
pack (:func:`write_pack`: the corpus, its 13C lines, the vocabulary and precomputed
randomised SMILES per structure; one compressed ``.npz``, no pickles), then train from it
there (``PriorRecipe.pack``).
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_write
from mspectmol.models.loop import torch_threads
from mspectmol.structure.generation.corpus import (
    CORPORA,
    DRUG_SAMPLE,
    SOURCES,
    training_corpus,
)
from mspectmol.structure.generation.prior import (
    EVIDENCE,
    N_FEATURES,
    Corpus,
    CorpusAugment,
    EvidenceNoise,
    corpus_features,
)
from mspectmol.structure.generation.shift_corpus import cached_c13_lines, corpus_folder
from mspectmol.structure.model.decoder import StructureConfig
from mspectmol.structure.model.domain import training_domain
from mspectmol.structure.model.io import (
    load_structure_model,
    read_structure_meta,
    save_structure_model,
)
from mspectmol.structure.model.tokens import Vocabulary, randomised, tokenize
from mspectmol.structure.pretrained import PRETRAINED_DIR
from mspectmol.structure.training import (
    DecoderData,
    TrainSettings,
    build_vocabulary,
    train_decoder,
)

log = logging.getLogger("mspectmol.structure")

#: Bumped when the training pack's arrays change.
PACK_VERSION = 1
#: Corpus, 13C lines, vocabulary, randomised SMILES per structure (or None), source.
Pack = tuple[Corpus, list[np.ndarray | None], Vocabulary, list[list[str]] | None, str]


@dataclass
class PriorRecipe:
    """How :func:`build_prior` trains the generator (``pack``: from a training pack).

    Attributes
    ----------
    pack
        Training pack to train from (None: gather the corpus here, which needs RDKit,
        qm9pack and the caches).
    epochs, minutes, batch_size, lr, seed
        Optimisation settings (``minutes``: time budget, 0 for none).
    d_model, layers
        Decoder width and decoder layers (None: 128 and 3, or those of ``init``).
    init
        A trained generator (its folder, or the name of a packaged one such as
        ``prior-drug``) whose weights training starts from, with the same corpus and
        vocabulary; its architecture is kept (None: random weights).
    max_train
        Train on the first this many training structures (0: all; smoke runs).
    balance_lines
        Train on the training structures whose 13C lines are known and as many others,
        drawn at random (:func:`balanced_lines`): the ``c13_shifts`` evidence is learned
        where only a part of the corpus has predicted lines.
    device, threads
        Torch device and torch threads.
    corpus, corpus_size
        The corpus (:data:`~mspectmol.structure.generation.corpus.CORPORA`) and, for
        ``drug``, how many MOSES structures it samples (0: the default,
        :data:`~mspectmol.structure.generation.corpus.DRUG_SAMPLE`).
    command
        The command line recorded in the model and its card.
    """

    pack: Path | None = None
    epochs: int = 3
    minutes: float = 0.0
    batch_size: int = 128
    lr: float = 1e-3
    d_model: int | None = None
    layers: int | None = None
    max_train: int = 0
    balance_lines: bool = False
    seed: int = 0
    device: str = "cpu"
    threads: int | None = 2
    corpus: str = "qm9"
    corpus_size: int = 0
    init: Path | None = None
    command: str = ""

    def __post_init__(self) -> None:
        if self.corpus not in CORPORA:
            raise MspectmolError(f"unknown generator corpus {self.corpus!r}; known: "
                                 f"{', '.join(CORPORA)}")


def decoder_length(smiles: list[str]) -> int:
    """Longest sequence (tokens, BOS and EOS included) of a generator trained on ``smiles``:
    64 when every canonical SMILES fits, as for QM9; else 128, room for the longer
    randomised SMILES of drug-size structures (longer training sequences are cut)."""
    longest = max((len(tokenize(x)) for x in smiles), default=0)
    return 64 if longest <= 62 else 2 * 64


def gather(seed: int, n_variants: int, corpus_name: str = "qm9", corpus_size: int = 0
           ) -> Pack:
    """Corpus, 13C lines, vocabulary and (``n_variants`` > 0) randomised SMILES, built here
    (needs RDKit and, for ``qm9``, qm9pack; for ``drug``, the molsets wheel)."""
    corpus = training_corpus(corpus_name, corpus_size or DRUG_SAMPLE)
    lines, not_computed = cached_c13_lines(corpus.smiles, corpus_folder(corpus_name),
                                           compute=False)
    log.info("13C lines known for %d of %d structures (%d not computed)",
             sum(x is not None for x in lines), len(corpus), not_computed)
    vocab = build_vocabulary(corpus.smiles, seed=seed, n_random=1)
    variants = None
    if n_variants:
        rng = np.random.default_rng(seed + 1)
        variants = [[randomised(s, rng) for _ in range(n_variants)] for s in corpus.smiles]
    source = SOURCES[corpus_name]
    if corpus_name == "drug":
        source = source.replace("a seeded sample", f"{corpus_size or DRUG_SAMPLE} drawn")
    return corpus, lines, vocab, variants, source


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


def write_pack(path: Path, seed: int = 0, n_variants: int = 8, corpus_name: str = "qm9",
               corpus_size: int = 0) -> Path:
    """Write :func:`gather`'s output as a training pack (:func:`save_pack`)."""
    save_pack(Path(path), *gather(seed, n_variants, corpus_name, corpus_size))
    return Path(path)


def read_pack(path: Path) -> Pack:
    """What :func:`save_pack` wrote; needs neither RDKit nor qm9pack."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != PACK_VERSION:
                raise MspectmolError(f"{path}: training pack version {int(z['version'])}, "
                                     f"this mspectmol reads {PACK_VERSION}")
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


def balanced_lines(idx: np.ndarray, lines: list[np.ndarray | None], seed: int) -> np.ndarray:
    """The structures of ``idx`` whose 13C ``lines`` are known, and as many of the others
    (all of them when fewer), drawn with ``seed``; sorted.

    Raises
    ------
    MspectmolError
        When none of them has known lines.
    """
    known = np.array([lines[i] is not None for i in idx], dtype=bool)
    if not known.any():
        raise MspectmolError("--balance-lines: no training structure has predicted 13C lines; "
                             "compute them first with python -m "
                             "mspectmol.structure.generation.shift_corpus")
    others = idx[~known]
    rng = np.random.default_rng(seed + 2)
    drawn = rng.choice(others, size=min(int(known.sum()), others.size), replace=False)
    return np.sort(np.concatenate([idx[known], drawn]))


def init_model(name: str | Path) -> Path:
    """The folder of the generator to start from: ``name`` itself when it is a folder, else
    the packaged generator of that name."""
    path = Path(name)
    if (path / "model.json").is_file():
        return path
    packaged = PRETRAINED_DIR / str(name)
    if (packaged / "model.json").is_file():
        return packaged
    known = sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "model.json").is_file())
    raise MspectmolError(f"--init {name}: neither a generator folder nor a packaged generator "
                         f"(packaged: {', '.join(known)})")


def _starting_point(r: PriorRecipe, vocab: Vocabulary, n_features: int, max_len: int
                    ) -> tuple[StructureConfig | None, dict[str, Any] | None, dict[str, Any]]:
    """Config, weights and record of ``r.init`` (all empty without one), checked against
    the corpus's vocabulary and the recipe's architecture."""
    if r.init is None:
        return None, None, {}
    folder = init_model(r.init)
    model, init_vocab, meta = load_structure_model(folder)
    cfg = model.config
    if tuple(init_vocab.tokens) != tuple(vocab.tokens):
        raise MspectmolError(f"--init {folder}: its vocabulary ({len(init_vocab)} tokens) is "
                             f"not this corpus's ({len(vocab)}); train it from the same corpus")
    wrong = [f"{flag} {given} (the model has {have})" for flag, given, have in (
        ("--d-model", r.d_model, cfg.d_model), ("--layers", r.layers, cfg.n_decoder_layers))
        if given is not None and given != have]
    if cfg.n_features != n_features or cfg.max_len != max_len:
        wrong.append(f"evidence features {cfg.n_features} / longest sequence {cfg.max_len} "
                     f"(this corpus: {n_features} / {max_len})")
    if wrong:
        raise MspectmolError(f"--init {folder}: {'; '.join(wrong)}")
    before = meta.training
    record = {"model": folder.name, "epochs": len(before.get("epochs", [])),
              "minutes": float(before.get("minutes") or 0.0),
              "best_val_loss": float(before.get("best_val_loss") or float("nan")),
              "n_train": before.get("n_train")}
    return cfg, model.state_dict(), record


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def write_card(folder: Path) -> None:
    """``MODEL_CARD.md`` from the model file's training record."""
    meta = read_structure_meta(folder)
    rec, cfg = meta.training, meta.config
    epochs = rec.get("epochs", [])
    init = rec.get("init") or {}
    before = (f"continued from `{init['model']}` ({_epochs(init['epochs'])}, "
              f"{init['minutes']:.1f} min, validation cross-entropy {init['best_val_loss']:.4f}), "
              "then " if init else "")
    drug = str(rec.get("corpus", "")).startswith("MOSES")
    needs = "the molsets wheel (fetched with pip)" if drug else "qm9pack"
    rows, results = (("denovo_drug", "structure-drug") if drug
                     else ("denovo_prior", "structure-prior"))
    domain = rec.get("domain") or {}
    size = re.search(r"(\d+) drawn", str(rec.get("corpus", "")))
    corpus_flags = (f" --corpus drug --corpus-size {size.group(1) if size else DRUG_SAMPLE}"
                    if drug else "")
    lines = [
        f"# Structure generator `{folder.name}`", "",
        "Evidence-conditioned SMILES generator (`mspectmol elucidate --generate N`, benchmark "
        f"rows `{rows}/...`): the formula plus four evidence tokens (functional-group "
        "probabilities, 13C lines per shift region, 1H protons per shift region, 13C line "
        "density) -> SMILES, sampled many times and re-ranked by simulated NMR "
        "(`mspectmol.structure.generation.generator`).", "",
        f"- Corpus: {rec.get('corpus')}: {rec.get('n_train')} training structures, "
        f"{rec.get('n_val')} for epoch selection"
        + (" (the training structures with predicted 13C lines and as many others, drawn "
           "at random (--balance-lines))" if rec.get("balance_lines") else "")
        + ". Test molecules and their scaffolds are "
        "not in it. 13C lines (CSP5 on one ETKDG conformer, "
        "`python -m mspectmol.structure.generation.shift_corpus`) known for "
        f"{rec.get('c13_lines_known')} structures"
        + (f"; evidence tokens given in training (share of structures): "
           f"{rec['evidence_available']}" if "evidence_available" in rec else "") + ".",
        *([f"- Domain: at most {domain.get('max_heavy_atoms')} heavy atoms of "
           f"{', '.join(domain.get('elements', []))}; `elucidate` warns beyond it."]
          if domain else []),
        f"- Decoder: d_model {cfg['d_model']}, {cfg['n_decoder_layers']} decoder layers, "
        f"{cfg['n_encoder_layers']} memory layer(s), vocabulary {cfg['vocab_size']} tokens; "
        "float16 weights.",
        f"- Training: {before}{_epochs(len(epochs))}, "
        f"{rec.get('minutes', float('nan')):.1f} min on {rec.get('device')}; best validation "
        "token cross-entropy "
        f"{rec.get('best_val_loss', float('nan')):.4f}; randomised SMILES (p=0.5); evidence "
        f"corrupted as {rec.get('noise')}.",
        f"- Test scores: `mspectmol benchmark --suite structure --set only={rows}` "
        f"(benchmarks/results/{results}).", "",
        f"Rebuild: `{rec.get('command')}` (needs {needs}, or a training pack written with "
        f"`mspectmol train --task structure --variant prior{corpus_flags} --write-pack PACK`)."
        , "",
        "```json", json.dumps(epochs, indent=1), "```", ""]
    (folder / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")


def build_prior(out: Path, recipe: PriorRecipe | None = None) -> dict[str, Any]:
    """Train the generator into the folder ``out`` and write its card; returns the
    training record."""
    r = recipe or PriorRecipe()
    started = time.perf_counter()
    with torch_threads(r.threads):
        corpus, lines, vocab, variants, source = (
            read_pack(r.pack) if r.pack else gather(r.seed, 0, r.corpus, r.corpus_size))
        order = np.random.default_rng(r.seed).permutation(len(corpus))
        n_val = max(1, len(corpus) // 50)
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        if r.balance_lines:
            train_idx = balanced_lines(train_idx, lines, r.seed)
        if r.max_train:
            train_idx = train_idx[:r.max_train]
        feats, avail = corpus_features(corpus, lines)

        def data(idx: np.ndarray) -> DecoderData:
            return DecoderData(feats[idx], avail[idx], [corpus.smiles[i] for i in idx],
                               [corpus.formulas[i] for i in idx],
                               None if variants is None else [variants[i] for i in idx],
                               canonicalise=r.pack is None)

        train, val = data(train_idx), data(val_idx)
        max_len = decoder_length(corpus.smiles)
        start, weights, init = _starting_point(r, vocab, N_FEATURES, max_len)
        d_model = r.d_model or 128
        config = start or StructureConfig(
            vocab_size=len(vocab), n_features=N_FEATURES, n_modalities=len(EVIDENCE),
            n_tokens=1, memory="evidence", d_model=d_model, n_heads=4, n_encoder_layers=1,
            n_decoder_layers=r.layers or 3, ff_dim=4 * d_model, dropout=0.1, max_len=max_len)
        settings = TrainSettings(epochs=r.epochs, batch_size=r.batch_size, lr=r.lr,
                                 warmup_steps=300, random_smiles=0.5, formula_dropout=0.0,
                                 aux_dropout=0.0, max_minutes=r.minutes, seed=r.seed,
                                 device=r.device)
        noise = CorpusAugment(EvidenceNoise(), [lines[i] for i in train_idx])
        model, history = train_decoder(config, vocab, train, val, settings, augment=noise,
                                       init=weights)
    device = (torch.cuda.get_device_name() if r.device.startswith("cuda")
              else f"CPU, {r.threads or torch.get_num_threads()} threads")
    record = {"variant": "evidence-prior", "corpus": f"{source} minus the embedded "
              "dataset's scaffold-split validation/test molecules and their scaffolds",
              "device": device,
              "smiles_variants": "precomputed, pack" if variants is not None else "RDKit",
              "n_train": len(train.smiles), "n_val": len(val.smiles),
              **({"balance_lines": True} if r.balance_lines else {}),
              "evidence": list(EVIDENCE), "noise": noise.settings(),
              "c13_lines_known": sum(x is not None for x in lines),
              "evidence_available": {e: float(avail[train_idx, i].mean())
                                     for i, e in enumerate(EVIDENCE)},
              "domain": training_domain(train.smiles, source),
              **({"init": init} if init else {}),
              "command": r.command or f"mspectmol train --task structure --variant prior "
                                      f"--output {out}",
              **history, "wall_minutes": (time.perf_counter() - started) / 60}
    save_structure_model(out, model, vocab, [f"evidence:{e}" for e in EVIDENCE],
                         training=record, half=True)
    write_card(Path(out))
    return record
