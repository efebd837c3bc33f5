"""One-vs-all gated models per functional group on the concatenated spectra (appendix O).

The gates of a PA-IB model are shared by all 37 outputs, so averaging its gate map over the
molecules that contain a group mixes in every group those molecules also contain (an ester
also has an alkane and often an ether). Appendix O of the paper separates co-occurring groups
by training "a dedicated model for each functional group", each reading "the concatenation of
all three spectral modalities" (Figure 7 plots the importance over 450 positions: IR, then
1H, then 13C, 150 each). We follow that at a CPU-sized scale:

* **Input.** The IR, 1H- and 13C-NMR spectra (600 points each) are concatenated into one
  1800-point sequence. The convolutions run across the joins, so the last few points of one
  spectrum and the first of the next share a receptive field (a kernel-11 stage reaches 5
  points; the edges of the grids carry little signal).
* **Model** (:class:`GroupGateModel`): one :class:`~mspectmol.models.encoders.SpectrumEncoder`
  (two stages), giving 450 bands (150 per spectrum, band ``i`` = points ``[4i, 4i + 4)``),
  one information-bottleneck :class:`~mspectmol.models.gates.BandGate` over those bands
  (eq. 6-8, :func:`~mspectmol.models.gates.apply_gate`), a flattened readout and one logit.
* **Loss.** Binary cross-entropy with ``pos_weight = n_neg / n_pos`` (capped at
  :data:`MAX_POS_WEIGHT`; most groups are rare) plus ``kl_weight`` times the gate KL averaged
  over the band x channel elements. The KL pushes uninformative bands shut, so the group's
  gate map shows where *that group's* evidence is.
* **Selection.** Each model trains on the train part of a split; the epoch with the best
  validation average precision is kept (weights restored) and the decision threshold is the
  one with the best validation F1. The test part is only scored.

Importance per group: the model's gate probabilities on its group's positive molecules,
upsampled onto the 1800 points (:func:`~mspectmol.explain.importance.bands_to_points`) and
normalised so each molecule's map over all three spectra sums to 1, then averaged: the
modality shares say how much each spectrum contributes (Figure 7). Gate x |gradient x input|
(:func:`~mspectmol.explain.importance.group_attribution`) is given as well.

Caveat: ``p_i`` is the fraction of band ``i`` that passes the noise, not its importance as
such. A strong peak stands out of the noise even at a small ``p_i``, and the KL costs more
for bands far from the mean, so a strong KL can *lower* the gate on the very band that
carries the label (on the synthetic data of ``tests/explain/test_onevsall.py``, KL weight 1
at learning rate 1e-2 shut it after 4 epochs, while 0.3 at 3e-3 opened it most). Read gate
maps next to gate x |gradient x input|.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.errors import MspectmolError
from mspectmol.explain.importance import (
    bands_to_points,
    group_attribution,
    normalise_maps,
    run_with_gates,
)
from mspectmol.models.encoders import SpectrumEncoder, encoded_length, prepare_batch
from mspectmol.models.gates import BandGate, apply_gate

#: Cap on the positive-class weight of the binary cross-entropy.
MAX_POS_WEIGHT = 20.0
#: Default groups: the carbonyl family (co-occurring and confusable) plus O-H, C-O and C#N.
DEFAULT_GROUPS = ("Ketone", "Aldehyde", "Ester", "Amide", "Carboxylic acid", "Alcohol",
                  "Ether", "Nitrile")


@dataclass
class OneVsAllConfig:
    """Hyper-parameters of :class:`GroupGateModel` and its training."""

    modalities: tuple[str, ...] = ("ir", "h_nmr", "c_nmr")
    n_points: int = 600
    channels: tuple[int, ...] = (8, 16)
    kernel_size: int = 11
    gate_hidden: int = 16
    head_hidden: int = 32
    dropout: float = 0.2
    kl_weight: float = 0.05
    temperature: float = 1.0
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0

    def __post_init__(self) -> None:
        self.modalities = tuple(self.modalities)
        self.channels = tuple(int(c) for c in self.channels)
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise MspectmolError(f"modalities must be distinct names, got {self.modalities}")
        if self.n_points % 2 ** len(self.channels):
            raise MspectmolError(f"n_points={self.n_points} must be divisible by "
                                 f"{2 ** len(self.channels)} so bands do not straddle spectra")
        for key in ("epochs", "batch_size", "n_points", "head_hidden", "gate_hidden"):
            if int(getattr(self, key)) < 1:
                raise MspectmolError(f"OneVsAllConfig.{key} must be >= 1")
        if self.kl_weight < 0 or self.lr <= 0:
            raise MspectmolError("kl_weight must be >= 0 and lr > 0")

    @property
    def bands_per_modality(self) -> int:
        return encoded_length(self.n_points, len(self.channels))


@dataclass
class GroupGateOutput:
    """Forward result: ``logits (n, 1)``, ``gate_probs {modality: (n, bands)}``, KL."""

    logits: Tensor
    gate_probs: dict[str, Tensor]
    kl: Tensor | None
    kl_size: int
    available: dict[str, Tensor]


class GroupGateModel(nn.Module):
    """Gated binary classifier of one functional group on the concatenated spectra."""

    def __init__(self, config: OneVsAllConfig | None = None) -> None:
        super().__init__()
        cfg = config or OneVsAllConfig()
        self.config = cfg
        width = cfg.channels[-1]
        self.n_bands = cfg.bands_per_modality * len(cfg.modalities)
        self.encoder = SpectrumEncoder(1, cfg.channels, cfg.kernel_size)
        self.gate = BandGate(width, cfg.gate_hidden)
        self.head = nn.Sequential(nn.Flatten(1), nn.Linear(self.n_bands * width, cfg.head_hidden),
                                  nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
                                  nn.Linear(cfg.head_hidden, 1))

    def forward(self, spectra: Mapping[str, Tensor], available: Mapping[str, Tensor] | None = None,
                *, return_kl: bool | None = None) -> GroupGateOutput:
        cfg = self.config
        batch = prepare_batch(spectra, available, cfg.modalities, cfg.n_points,
                              dtype=self.head[1].weight.dtype)
        x = torch.cat([batch.spectra[m] for m in cfg.modalities], dim=1)
        h = self.encoder(x).transpose(1, 2).contiguous()
        want_kl = self.training if return_kl is None else bool(return_kl)
        res = apply_gate(h, self.gate(h), stochastic=self.training,
                         temperature=cfg.temperature, compute_kl=want_kl)
        logits = self.head(res.features)
        nb = cfg.bands_per_modality
        probs = {m: res.prob[:, i * nb:(i + 1) * nb] * batch.available[m].unsqueeze(1)
                 for i, m in enumerate(cfg.modalities)}
        return GroupGateOutput(logits, probs, res.kl, self.n_bands * h.shape[-1],
                               batch.available)


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve (step-wise, as scikit-learn); NaN with no positive."""
    y = np.asarray(y, dtype=bool)
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    hits = np.cumsum(y[order])
    precision = hits / np.arange(1, y.size + 1)
    return float(precision[y[order]].sum() / y.sum())


def best_f1_threshold(y: np.ndarray, prob: np.ndarray) -> tuple[float, float]:
    """``(threshold, F1)`` maximising F1 over the observed probabilities (0.5 with no positive)."""
    y = np.asarray(y, dtype=bool)
    if not y.any():
        return 0.5, float("nan")
    best = (0.5, f1_score(y, prob >= 0.5))
    for t in np.unique(prob):
        f1 = f1_score(y, prob >= t)
        if f1 > best[1]:
            best = (float(t), f1)
    return best


def f1_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Binary F1 (0 when there is no true or predicted positive)."""
    tp = float(np.sum(y & pred))
    denom = float(np.sum(y) + np.sum(pred))
    return 2 * tp / denom if denom else 0.0


@dataclass
class GroupModel:
    """One trained group model and how it was chosen and scored."""

    group: str
    model: GroupGateModel
    best_epoch: int
    threshold: float
    scores: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _predict(model: nn.Module, spectra: Mapping[str, np.ndarray]) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-run_with_gates(model, spectra).logits[:, 0]))


def train_group_model(group: str, train: tuple[dict[str, np.ndarray], np.ndarray],
                      val: tuple[dict[str, np.ndarray], np.ndarray],
                      config: OneVsAllConfig | None = None, *, log: Any = None) -> GroupModel:
    """Train one group's model; keep the epoch with the best validation average precision.

    Parameters
    ----------
    group
        Name (for messages).
    train, val
        ``({modality: (n, n_points) float32}, (n,) 0/1 labels)``.
    config
        Model and training settings.
    log
        Optional callable receiving one progress line per epoch.
    """
    cfg = config or OneVsAllConfig()
    x_tr, y_tr = train
    y_tr = np.asarray(y_tr, dtype=np.float32)
    n_pos = float(y_tr.sum())
    if n_pos == 0 or n_pos == y_tr.size:
        raise MspectmolError(f"{group}: the training part needs positives and negatives "
                             f"({int(n_pos)} of {y_tr.size} are positive)")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = GroupGateModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    pos_weight = torch.tensor(min((y_tr.size - n_pos) / n_pos, MAX_POS_WEIGHT))
    bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    x_t = {m: torch.as_tensor(x_tr[m]) for m in cfg.modalities}
    y_t = torch.as_tensor(y_tr)
    best: tuple[float, int, dict[str, Tensor]] | None = None
    history = []
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total = 0.0
        for rows in np.array_split(rng.permutation(y_tr.size), max(1, y_tr.size // cfg.batch_size)):
            idx = torch.as_tensor(rows)
            out = model({m: x[idx] for m, x in x_t.items()}, return_kl=cfg.kl_weight > 0)
            loss = bce(out.logits[:, 0], y_t[idx])
            if out.kl is not None:
                loss = loss + cfg.kl_weight * out.kl.mean() / out.kl_size
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * rows.size
        ap = average_precision(val[1], _predict(model, val[0]))
        history.append({"epoch": epoch, "train_loss": total / y_tr.size, "val_ap": ap})
        if log is not None:
            log(f"{group} epoch {epoch}: loss {total / y_tr.size:.4f} val AP {ap:.3f}")
        if best is None or ap >= best[0]:  # ties: the later epoch (gates have settled more)
            best = (ap, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    threshold, val_f1 = best_f1_threshold(np.asarray(val[1], bool), _predict(model, val[0]))
    return GroupModel(group, model, best[1], threshold,
                      {"val_ap": best[0], "val_f1": val_f1}, history,
                      time.perf_counter() - start)


def concatenated_maps(model: GroupGateModel, spectra: Mapping[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
    """Per-molecule gate maps, normalised over all spectra together (each row of the
    concatenation sums to 1): ``{modality: (n, n_points)}``."""
    gated = run_with_gates(model, spectra)
    cfg = model.config
    assert gated.gate_probs is not None
    points = np.concatenate([bands_to_points(gated.gate_probs[m], cfg.n_points)
                             for m in cfg.modalities], axis=1)
    points = normalise_maps(points)
    return {m: points[:, i * cfg.n_points:(i + 1) * cfg.n_points]
            for i, m in enumerate(cfg.modalities)}


@dataclass
class OneVsAllResult:
    """What :func:`train_one_vs_all` returns.

    Attributes
    ----------
    models
        ``{group: GroupModel}``.
    gate_maps
        ``{group: {modality: (n_points,)}}`` mean gate importance over the explained part's
        positives of the group (all three spectra together sum to 1).
    attribution_maps
        ``{group: {modality: (n_points,)}}`` mean gate x |gradient x input|, each modality
        normalised on its own (rows of :func:`group_attribution`).
    modality_share
        ``{group: {modality: share}}`` of the gate map.
    n_positive
        ``{group: positives}`` in the explained part.
    config
        The settings used (as a dict).
    """

    models: dict[str, GroupModel]
    gate_maps: dict[str, dict[str, np.ndarray]]
    attribution_maps: dict[str, dict[str, np.ndarray]]
    modality_share: dict[str, dict[str, float]]
    n_positive: dict[str, int]
    config: dict[str, Any]


def _part(dataset: Any, split: str, part: str, modalities: Sequence[str],
          rows: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    idx = dataset.split_indices(split, part) if rows is None else rows
    return {m: np.asarray(dataset.spectra[m][idx], dtype=np.float32) for m in modalities}, idx


def train_one_vs_all(dataset: Any, groups: Sequence[str] = DEFAULT_GROUPS, *,
                     split: str = "scaffold", explain_part: str = "test",
                     config: OneVsAllConfig | None = None, max_train: int | None = None,
                     log: Any = None) -> OneVsAllResult:
    """Train one gated binary model per group and average its importance over positives.

    Parameters
    ----------
    dataset
        An :class:`~mspectmol.data.dataset.EmbeddedDataset` with the config's modalities.
    groups
        Group names (:data:`~mspectmol.chem.functional_groups.GROUP_NAMES`).
    split
        Split scheme: models train on ``train``, are chosen on ``val``.
    explain_part
        Part whose positives the importance maps average over (and that is scored).
    config
        Model and training settings.
    max_train
        Use at most this many training molecules (random, seeded); None: all.
    log
        Optional callable for progress lines.
    """
    cfg = config or OneVsAllConfig()
    missing = [m for m in cfg.modalities if m not in dataset.spectra]
    if missing:
        raise MspectmolError(f"the dataset has no {', '.join(missing)} spectra")
    unknown = [g for g in groups if g not in GROUP_NAMES]
    if unknown or not groups:
        raise MspectmolError(f"unknown or no group(s): {', '.join(unknown) or 'none given'}")
    train_rows = dataset.split_indices(split, "train")
    if max_train is not None and train_rows.size > max_train:
        rng = np.random.default_rng(cfg.seed)
        train_rows = np.sort(rng.choice(train_rows, max_train, replace=False))
    x_tr, tr = _part(dataset, split, "train", cfg.modalities, train_rows)
    x_va, va = _part(dataset, split, "val", cfg.modalities)
    x_ex, ex = _part(dataset, split, explain_part, cfg.modalities)
    result = OneVsAllResult({}, {}, {}, {}, {}, asdict(cfg))
    for g in groups:
        col = GROUP_NAMES.index(g)
        y = np.asarray(dataset.labels[:, col], dtype=bool)
        gm = train_group_model(g, (x_tr, y[tr]), (x_va, y[va]), cfg, log=log)
        prob = _predict(gm.model, x_ex)
        gm.scores.update({f"{explain_part}_ap": average_precision(y[ex], prob),
                          f"{explain_part}_f1": f1_score(y[ex], prob >= gm.threshold),
                          "n_train_positive": int(y[tr].sum()),
                          f"n_{explain_part}_positive": int(y[ex].sum())})
        result.models[g] = gm
        pos = np.flatnonzero(y[ex])
        result.n_positive[g] = int(pos.size)
        if pos.size == 0:
            continue
        x_pos = {m: x[pos] for m, x in x_ex.items()}
        maps = concatenated_maps(gm.model, x_pos)
        result.gate_maps[g] = {m: np.nanmean(v, axis=0) for m, v in maps.items()}
        result.modality_share[g] = {m: float(v.sum()) for m, v in result.gate_maps[g].items()}
        attr = group_attribution(gm.model, x_pos, 0, gate_maps=maps)
        result.attribution_maps[g] = {m: _nanmean_rows(v) for m, v in attr.items()}
    return result


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a).any(axis=1)
    return a[ok].mean(axis=0) if ok.any() else np.full(a.shape[1], np.nan)
