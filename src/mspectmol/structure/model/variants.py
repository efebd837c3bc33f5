"""The structure-model variants: the PA-IB decoder and its two baselines, their encoder, and
training one on the embedded dataset.

Variants (:data:`VARIANTS`), all trained the same way (:mod:`~mspectmol.structure.training`):

``pa_ib``
    The decoder of appendix S.2 reading the frozen default PA-IB model's gated features
    ``T_m``/``T_a`` (10 bands pooled per token, each token also carrying its modality's
    readout ``z``, the input of the fused head; no extra memory encoder: the PA-IB encoders
    already are one). Features are standardised per feature with training statistics.
    The PA-IB encoder is frozen, not fine-tuned: its features are computed once, which is
    what makes CPU training affordable.
``ungated``
    The same with the encoders' features ``H`` before the gates ("without PA-IB gating").
``transformer``
    The plain Transformer encoder-decoder on the concatenated spectra (the paper's
    "Transformer" row): patches of 40 points, linearly embedded, one self-attention encoder
    layer learned from scratch, the same decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.models.inference import find_model
from mspectmol.models.io import load_model
from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
from mspectmol.structure.model.domain import training_domain
from mspectmol.structure.model.io import save_structure_model
from mspectmol.structure.model.tokens import Vocabulary
from mspectmol.structure.training import (
    DecoderData,
    TrainSettings,
    build_vocabulary,
    embedded_decoder_data,
    train_decoder,
)

MODALITIES = ("ir", "h_nmr", "c_nmr")
VARIANTS: dict[str, dict[str, Any]] = {
    "pa_ib": {"memory": "pa_ib", "n_encoder_layers": 0, "pool": 10, "readout": True},
    "ungated": {"memory": "ungated", "n_encoder_layers": 0, "pool": 10, "readout": True},
    "transformer": {"memory": "patches", "n_encoder_layers": 1, "patch": 40},
}
#: Decoder size used for the shipped model and the benchmark (CPU budget).
DEFAULT_SIZE: dict[str, Any] = {"d_model": 128, "n_heads": 4, "n_decoder_layers": 3,
                                "ff_dim": 512, "dropout": 0.1, "max_len": 96}


#: The packaged PA-IB model whose features the structure decoders use (the default
#: classifier when the packaged decoders were trained; kept so their results reproduce).
STRUCTURE_ENCODER = "fixed-rendering"


def encoder_reference(name_or_path: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Load the PA-IB encoder (default: :data:`STRUCTURE_ENCODER`) and describe it."""
    name_or_path = name_or_path or STRUCTURE_ENCODER
    path = find_model(name_or_path)
    model, meta = load_model(path)
    if meta.model_name != "pa_ib":
        raise MspectmolError(f"{path}: the structure decoder needs a PA-IB encoder, got "
                             f"{meta.model_name!r}")
    ref = {"model": name_or_path, "content_hash": meta.content_hash,
           "modalities": [meta.primary, *meta.auxiliary]}
    return model, ref


def check_encoder(meta_encoder: dict[str, Any] | None, encoder_meta_hash: str,
                  source: str) -> None:
    """Fail when the PA-IB encoder is not the one the decoder was trained on."""
    if meta_encoder and meta_encoder.get("content_hash") != encoder_meta_hash:
        raise ModelFileError(f"{source}: the structure model was trained on the features of "
                             f"PA-IB model {meta_encoder.get('model')!r} with weights "
                             f"{meta_encoder.get('content_hash', '')[:12]}..., but that model "
                             f"now has {encoder_meta_hash[:12]}...; retrain it with "
                             "mspectmol train --task structure")


def make_config(variant: str, vocab: Vocabulary, n_features: int, n_tokens: int,
                **size: Any) -> StructureConfig:
    """The :class:`StructureConfig` of a variant (sizes from :data:`DEFAULT_SIZE`)."""
    if variant not in VARIANTS:
        raise MspectmolError(f"unknown structure variant {variant!r}; known: "
                             f"{', '.join(VARIANTS)}")
    kw = {**DEFAULT_SIZE, **VARIANTS[variant], **size}
    return StructureConfig(vocab_size=len(vocab), n_features=n_features,
                           n_modalities=len(MODALITIES), n_tokens=n_tokens, **kw)


def variant_data(ds: Any, variant: str, encoder: Any) -> DecoderData:
    """:class:`~mspectmol.structure.training.DecoderData` of every dataset molecule for a
    variant of :data:`VARIANTS`."""
    spec = VARIANTS[variant]
    return embedded_decoder_data(ds, spec["memory"], MODALITIES, encoder=encoder,
                                 pool=spec.get("pool", 10), patch=spec.get("patch", 40),
                                 readout=spec.get("readout", False))


def train_variant(ds: Any, variant: str, encoder: Any, encoder_ref: dict[str, Any],
                  out: Path, settings: TrainSettings, *, split: str = "scaffold",
                  max_train: int = 0, size: dict[str, Any] | None = None,
                  data: DecoderData | None = None
                  ) -> tuple[StructureDecoder, Vocabulary, dict[str, Any]]:
    """Train one variant on ``split``'s train part (val part for model selection), save it
    to ``out`` and return the model, vocabulary and training record (with the training
    molecules' ``domain``, :func:`~mspectmol.structure.model.domain.training_domain`)."""
    data = data if data is not None else variant_data(ds, variant, encoder)
    tr = ds.split_indices(split, "train")
    if max_train:
        tr = np.sort(np.random.default_rng(settings.seed).choice(tr, min(max_train, tr.size),
                                                                 replace=False))
    va = ds.split_indices(split, "val")
    train, val = data.subset(tr), data.subset(va)
    vocab = build_vocabulary(train.smiles, seed=settings.seed)
    cfg = make_config(variant, vocab, data.features.shape[-1], data.features.shape[2],
                      **(size or {}))
    model, history = train_decoder(cfg, vocab, train, val, settings)
    record = {"variant": variant, "split": split, "n_train": int(tr.size),
              "n_val": int(va.size), **history,
              "domain": training_domain(train.smiles, f"{split}-split training molecules")}
    save_structure_model(out, model, vocab, list(MODALITIES),
                         encoder=encoder_ref if cfg.memory != "patches" else None,
                         training=record)
    return model, vocab, record
