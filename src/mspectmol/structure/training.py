"""Training of the SMILES decoder (teacher forcing, cross-entropy).

Per batch, each molecule's target is its canonical SMILES or, with probability
``random_smiles``, a randomised SMILES of it (RDKit ``doRandom=True``; SMILES augmentation).
With probability ``formula_dropout`` its formula tokens are hidden and with probability
``aux_dropout`` its auxiliary spectra are, so that one model serves "with/without formula"
and "IR alone / IR + NMR" at inference. AdamW with linear warm-up and cosine decay
(bfloat16 autocast on CPU by default, about a third faster on CPUs with AMX); the
state with the lowest validation loss (canonical SMILES, formula and spectra all given) is
kept. Training stops after ``epochs`` or ``max_minutes``, whichever comes first; with a time
budget the cosine decay runs over whichever ends first, so a budget-limited run still ends at
a low learning rate. ``device`` trains on a GPU (``"cuda"``, bfloat16 autocast); the returned
model is on the CPU either way. The epochs are run by the shared training loop
(:func:`mspectmol.models.loop.run_loop`: per-epoch log line, best state, time budget); given a
checkpoint folder it writes a checkpoint at each epoch end, and a rerun with the same folder
continues from it. Randomised SMILES may be precomputed (``DecoderData.variants``)
so that training needs no RDKit (e.g. on a GPU node that lacks it): this module imports
only torch, NumPy and the model modules. The structure-model variants are trained on the
embedded dataset by :func:`~mspectmol.structure.model.variants.train_variant`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mspectmol.errors import MspectmolError
from mspectmol.models.checkpoint import LAST_NAME, Checkpointer, LoopState, load_checkpoint
from mspectmol.models.loop import (
    LoopSettings,
    StepHook,
    autocast,
    optimizer_step,
    run_loop,
    seed_everything,
    training_device,
)
from mspectmol.models.precision import choose_precision
from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder, pad_batch
from mspectmol.structure.model.memory import memory_features
from mspectmol.structure.model.tokens import (
    Vocabulary,
    canonical,
    formula_vector,
    randomised,
    smiles_formula,
)

log = logging.getLogger("mspectmol.structure")


@dataclass
class TrainSettings:
    """Optimisation settings of :func:`train_decoder`; ``bf16``: bfloat16 autocast (None:
    where the device runs it natively, :func:`~mspectmol.models.precision.choose_precision`;
    on a CPU without native bfloat16 it is several times slower than float32)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    random_smiles: float = 0.5
    formula_dropout: float = 0.5
    aux_dropout: float = 0.3
    max_minutes: float = 0.0
    seed: int = 0
    bf16: bool | None = None
    device: str = "cpu"


@dataclass
class DecoderData:
    """Training or validation molecules: memory features and targets.

    ``smiles`` are canonicalised (RDKit) unless ``canonicalise`` is False, when the caller
    vouches that they already are (e.g. read back from a training pack that was made so).
    ``variants``, if given, holds precomputed randomised SMILES of each molecule; training
    then draws its SMILES augmentation from them instead of calling RDKit.
    """

    features: np.ndarray
    available: np.ndarray
    smiles: list[str]
    formulas: list[str | None]
    variants: Sequence[Sequence[str]] | None = None
    canonicalise: bool = True

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.available) == len(self.smiles) == len(self.formulas) == n):
            raise MspectmolError("features, availability, SMILES and formulas differ in length")
        if self.variants is not None and len(self.variants) != n:
            raise MspectmolError(f"randomised SMILES given for {len(self.variants)} of {n} "
                                 "molecules")
        if not self.canonicalise:
            self.smiles = list(self.smiles)
            return
        targets = []
        for s in self.smiles:
            c = canonical(s)
            if c is None:
                raise MspectmolError(f"invalid training SMILES {s!r}")
            targets.append(c)
        self.smiles = targets

    def subset(self, idx: np.ndarray) -> DecoderData:
        return DecoderData(self.features[idx], self.available[idx],
                           [self.smiles[i] for i in idx], [self.formulas[i] for i in idx],
                           None if self.variants is None else [self.variants[i] for i in idx],
                           canonicalise=False)

    def target(self, i: int, random_smiles: float, rng: np.random.Generator) -> str:
        """Molecule ``i``'s training SMILES: with probability ``random_smiles`` a randomised
        one (a precomputed variant when there are any), else the canonical one."""
        if rng.random() >= random_smiles:
            return self.smiles[i]
        if self.variants is None:
            return randomised(self.smiles[i], rng)
        options = self.variants[i]
        return options[int(rng.integers(len(options)))] if len(options) else self.smiles[i]


def build_vocabulary(smiles: Sequence[str], seed: int = 0, n_random: int = 2) -> Vocabulary:
    """Tokens of the canonical and ``n_random`` randomised SMILES of each molecule."""
    rng = np.random.default_rng(seed)
    every = list(smiles)
    for s in smiles:
        every.extend(randomised(s, rng) for _ in range(n_random))
    return Vocabulary.build(every)


def _loss(model: StructureDecoder, tokens: torch.Tensor, feats: torch.Tensor,
          avail: torch.Tensor, form: torch.Tensor) -> torch.Tensor:
    device = next(model.parameters()).device
    tokens = tokens.to(device)
    logits = model(tokens[:, :-1], feats.to(device), avail.to(device), form.to(device))
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                           ignore_index=Vocabulary.pad)


@torch.no_grad()
def validation_loss(model: StructureDecoder, vocab: Vocabulary, data: DecoderData,
                    batch_size: int = 256, use_formula: bool = True) -> float:
    """Mean token cross-entropy of the canonical SMILES (eval mode)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(data.smiles), batch_size):
        sl = slice(start, start + batch_size)
        tokens = pad_batch([vocab.encode(s) for s in data.smiles[sl]])
        form = torch.as_tensor(np.stack([formula_vector(f if use_formula else None)
                                         for f in data.formulas[sl]]))
        n_tok = int((tokens[:, 1:] != 0).sum())
        loss = _loss(model, tokens, torch.as_tensor(data.features[sl]),
                     torch.as_tensor(data.available[sl]), form)
        total += float(loss) * n_tok
        count += n_tok
    return total / max(count, 1)


#: ``augment(features, available, rng, rows)``: corrupts a training batch's memory.
Augment = Callable[[np.ndarray, np.ndarray, np.random.Generator, np.ndarray],
                   tuple[np.ndarray, np.ndarray]]


def _fingerprint(s: TrainSettings, config: StructureConfig, vocab: Vocabulary,
                 train: DecoderData, val: DecoderData | None) -> dict[str, Any]:
    """What a checkpoint must share with the run resuming it: settings, model and data."""
    def digest(value: Any) -> str:
        return hashlib.sha256(json.dumps(value).encode("utf-8")).hexdigest()

    settings = {k: v for k, v in asdict(s).items() if k != "device"}
    return {"config": {**settings, "model": config.to_dict(), "vocabulary": list(vocab.tokens)},
            "train": digest(train.smiles), "val": digest(val.smiles if val else None)}


def train_decoder(config: StructureConfig, vocab: Vocabulary, train: DecoderData,
                  val: DecoderData | None = None, settings: TrainSettings | None = None, *,
                  augment: Augment | None = None, checkpoint_dir: Path | None = None,
                  init: Mapping[str, torch.Tensor] | None = None
                  ) -> tuple[StructureDecoder, dict[str, Any]]:
    """Train a :class:`StructureDecoder`; returns it (best validation state) and a history.

    ``augment(features, available, rng, rows)`` corrupts each training batch's memory
    (``rows``: the batch's indices into ``train``; e.g.
    :class:`~mspectmol.structure.generation.prior.CorpusAugment`) before the auxiliary dropout.
    ``checkpoint_dir`` receives a checkpoint at each epoch end; when it holds one of this
    run, training continues from it. ``init`` (a state dict of a model with the same
    config, e.g. a trained generator's) sets the starting weights and standardisation. The
    history holds the settings, one row per epoch
    (``epoch``, ``train_loss``, ``val_loss``, ``seconds``, ``improved``), the training
    ``minutes`` and, with validation, ``best_val_loss`` and ``best_epoch``; ``stopped`` says
    why training ended before ``epochs``.
    """
    s = settings or TrainSettings()
    if s.epochs < 1 or s.batch_size < 1:
        raise MspectmolError("epochs and batch_size must be >= 1")
    device = training_device(s.device)
    bf16 = (choose_precision(device).dtype is torch.bfloat16 if s.bf16 is None
            else bool(s.bf16))
    seed_everything(s.seed)
    rng = np.random.default_rng(s.seed)
    model = StructureDecoder(config)
    model.set_standardisation(torch.as_tensor(train.features))
    if init is not None:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in init.items()}, strict=True)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    n = len(train.smiles)
    steps_per_epoch = math.ceil(n / s.batch_size)
    total_steps = steps_per_epoch * s.epochs
    clock = {"start": time.perf_counter()}

    def lr_at(step: int) -> float:
        if step < s.warmup_steps:
            return (step + 1) / s.warmup_steps
        frac = (step - s.warmup_steps) / max(1, total_steps - s.warmup_steps)
        if s.max_minutes:
            frac = max(frac, (time.perf_counter() - clock["start"]) / 60 / s.max_minutes)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    fvec = np.stack([formula_vector(f) for f in train.formulas])
    state, saver = None, None
    if checkpoint_dir is not None:
        fingerprint = _fingerprint(s, config, vocab, train, val)
        if (Path(checkpoint_dir) / LAST_NAME).is_file():
            state = load_checkpoint(checkpoint_dir).restore(model, opt, sched, fingerprint)
            rng.bit_generator.state = state.carry["rng"]
            clock["start"] -= state.seconds
            log.info("resuming %s at epoch %d", checkpoint_dir, state.epoch)
        saver = Checkpointer(checkpoint_dir, None, steps_per_epoch, model=model, optimizer=opt,
                             scheduler=sched, fingerprint=fingerprint)

    def epoch_fn(epoch: int, state: LoopState, on_step: StepHook) -> dict[str, float]:
        model.train()
        order = rng.permutation(n)
        run_loss = 0.0
        for start in range(0, n, s.batch_size):
            idx = order[start:start + s.batch_size]
            seqs = [vocab.encode(train.target(i, s.random_smiles, rng)) for i in idx]
            tokens = pad_batch(seqs)[:, :config.max_len]
            form = fvec[idx].copy()
            form[rng.random(len(idx)) < s.formula_dropout] = -1
            feats, avail = train.features[idx], train.available[idx].copy()
            if augment is not None:
                feats, avail = augment(feats, avail, rng, idx)
            avail[rng.random(len(idx)) < s.aux_dropout, 1:] = False
            with autocast(bf16, device):
                loss = _loss(model, tokens, torch.as_tensor(feats),
                             torch.as_tensor(avail), torch.as_tensor(form))
            optimizer_step(loss, opt, clip=(model.parameters(), 1.0), scheduler=sched)
            run_loss += float(loss.detach()) * len(idx)
        state.carry["rng"] = rng.bit_generator.state
        return {"train_loss": run_loss / n}

    def validate(epoch: int) -> dict[str, float]:
        return {"val_loss": validation_loss(model, vocab, val)}

    done = run_loop(model, epoch_fn, validate if val is not None else None,
                    LoopSettings(epochs=s.epochs, max_minutes=s.max_minutes,
                                 desc="train structure"),
                    state=state, checkpointer=saver, logger=log)
    history: dict[str, Any] = {"settings": {**asdict(s), "bf16": bf16}, "epochs": done.history,
                               "minutes": done.seconds / 60}
    if done.stop_reason is not None:
        history["stopped"] = done.stop_reason
    if done.best_score is not None:
        history["best_val_loss"], history["best_epoch"] = done.best_score, done.best_epoch
    return model.cpu().eval(), history


def embedded_decoder_data(ds: Any, source: str, modalities: Sequence[str], *,
                          encoder: Any = None, pool: int = 10, patch: int = 40,
                          readout: bool = False) -> DecoderData:
    """Memory features, availability (all True), SMILES and formulas of every molecule of
    an :class:`~mspectmol.data.dataset.EmbeddedDataset` (formulas by RDKit CalcMolFormula)."""
    feats = memory_features(source, ds.spectra, tuple(modalities), encoder=encoder, pool=pool,
                            patch=patch, readout=readout)
    avail = np.ones(feats.shape[:2], dtype=bool)
    smiles = [str(s) for s in ds.smiles]
    return DecoderData(feats, avail, smiles, [smiles_formula(s) for s in smiles])
