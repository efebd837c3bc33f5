"""What the SMILES decoder reads: spectrum features as a sequence of memory tokens.

Three feature sources, one shape ``(n, n_modalities, n_tokens, n_features)``:

``pa_ib`` (the model of appendix S.2)
    The per-band bottleneck features ``T_m`` (primary) and ``T_a`` (auxiliary) of a frozen
    PA-IB model in eval mode (deterministic gates ``lambda = p``, no noise), averaged over
    ``pool`` neighbouring bands (150 bands -> 15 tokens of 32 channels for the default model
    and ``pool`` 10). With ``readout`` each token also carries its modality's readout ``z``
    (the fused representation's part that ``head_fused`` reads, 128 values), so every token
    has 32 + 128 features.
``ungated``
    The same encoders' features ``H`` before the gates (readout ``z`` computed from ``H``):
    the "decoder without PA-IB gating" ablation.
``patches``
    The normalised spectra themselves cut into non-overlapping patches of ``patch`` points
    (600 -> 30 patches of 20): the input of the plain Transformer encoder-decoder baseline
    (the paper's "Transformer" row), which learns its own encoder from scratch.

``evidence``
    No spectrum features at all: what a chemist reads off the spectra (functional groups, 13C
    lines and 1H protons per shift region), one token each; see
    :mod:`~mspectmol.structure.generation.prior`.

The availability of each modality travels alongside as an ``(n, n_modalities)`` bool array;
the decoder masks the tokens of a missing modality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mspectmol.errors import MspectmolError
from mspectmol.models.gates import apply_gate

SOURCES = ("pa_ib", "ungated", "patches", "evidence")


def check_spectra(spectra: Mapping[str, np.ndarray], modalities: Sequence[str],
                  n_points: int) -> int:
    """Validate ``{modality: (n, n_points)}`` arrays; returns n.

    Raises
    ------
    MspectmolError
        A missing modality, a wrong shape, or non-finite values (naming the modality).
    """
    n = None
    for m in modalities:
        if m not in spectra:
            raise MspectmolError(f"spectra lack the {m!r} modality")
        a = np.asarray(spectra[m])
        if a.ndim != 2 or a.shape[1] != n_points:
            raise MspectmolError(f"{m} spectra must have shape (n, {n_points}), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise MspectmolError(f"{m} spectra contain NaN or infinite values")
        if n is not None and a.shape[0] != n:
            raise MspectmolError(f"modalities have different numbers of spectra ({n} and "
                                 f"{a.shape[0]} for {m})")
        n = a.shape[0]
    return int(n or 0)


def patch_features(spectra: Mapping[str, np.ndarray], modalities: Sequence[str],
                   patch: int) -> np.ndarray:
    """Spectra cut into patches: ``(n, n_modalities, n_points // patch, patch)`` float32."""
    n_points = np.asarray(spectra[modalities[0]]).shape[1]
    if patch < 1 or n_points % patch:
        raise MspectmolError(f"patch size {patch} must divide the {n_points} spectrum points")
    n = check_spectra(spectra, modalities, n_points)
    return np.stack([np.asarray(spectra[m], dtype=np.float32).reshape(n, -1, patch)
                     for m in modalities], axis=1)


def paib_features(model: Any, spectra: Mapping[str, np.ndarray], *, gated: bool = True,
                  pool: int = 5, readout: bool = False, batch_size: int = 256) -> np.ndarray:
    """Per-band features of a frozen PA-IB model, band-pooled.

    Parameters
    ----------
    model
        A :class:`~mspectmol.models.pa_ib.PAIBModel` (put in eval mode here).
    spectra
        ``{modality: (n, n_points)}`` for the model's modalities (zeros where unavailable;
        those tokens are masked by the decoder anyway).
    gated
        True: ``T`` after the deterministic gates; False: the encoder features ``H``.
    pool
        Bands averaged into one token (must divide the number of bands).
    readout
        Append the modality's readout ``z`` (``model.readouts``) to every token.

    Returns
    -------
    numpy.ndarray
        ``(n, n_modalities, n_bands // pool, channels [+ head_hidden])`` float32, primary
        first.
    """
    cfg = model.config
    n = check_spectra(spectra, cfg.modalities, cfg.n_points)
    if pool < 1 or cfg.n_bands % pool:
        raise MspectmolError(f"pool {pool} must divide the model's {cfg.n_bands} bands")
    model.eval()
    width = cfg.channels[-1] + (cfg.head_hidden if readout else 0)
    out = np.zeros((n, len(cfg.modalities), cfg.n_bands // pool, width), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            x = {m: torch.as_tensor(np.asarray(spectra[m][sl], dtype=np.float32))
                 for m in cfg.modalities}
            h_m = model.encode(cfg.primary, x[cfg.primary])
            res_m = apply_gate(h_m, model.gates[cfg.primary](h_m), stochastic=False)
            feats = [res_m.features if gated else h_m]
            for name in cfg.auxiliary:
                h_a = model.encode(name, x[name])
                if gated:
                    gate_in = torch.cat((h_m, h_a, res_m.features), dim=-1)
                    feats.append(apply_gate(h_a, model.gates[name](gate_in),
                                            stochastic=False).features)
                else:
                    feats.append(h_a)
            for j, (name, f) in enumerate(zip(cfg.modalities, feats, strict=True)):
                b, bands, c = f.shape
                out[sl, j, :, :c] = f.reshape(b, bands // pool, pool, c).mean(dim=2).numpy()
                if readout:
                    z = model.readouts[name](f)
                    out[sl, j, :, c:] = z[:, None, :].numpy()
    return out


def memory_features(source: str, spectra: Mapping[str, np.ndarray],
                    modalities: Sequence[str], *, encoder: Any = None, pool: int = 5,
                    patch: int = 20, readout: bool = False) -> np.ndarray:
    """Dispatch to :func:`paib_features` (``pa_ib``, ``ungated``) or :func:`patch_features`."""
    if source not in SOURCES:
        raise MspectmolError(f"unknown memory source {source!r}; known: {', '.join(SOURCES)}")
    if source == "patches":
        return patch_features(spectra, modalities, patch)
    if source == "evidence":
        raise MspectmolError("evidence memories are built from group probabilities and peak "
                             "counts by mspectmol.structure.generation.prior.evidence_features")
    if encoder is None:
        raise MspectmolError(f"memory source {source!r} needs the PA-IB encoder model")
    if tuple(encoder.config.modalities) != tuple(modalities):
        raise MspectmolError(f"the PA-IB encoder reads {encoder.config.modalities}, the "
                             f"decoder expects {tuple(modalities)}")
    return paib_features(encoder, spectra, gated=source == "pa_ib", pool=pool,
                         readout=readout)
