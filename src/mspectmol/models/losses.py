"""The PA-IB training objective (paper eq. 14)::

    L_total = L_sup + aux_weight * L_pred + mi1_weight * L_MI1 + alpha * L_MI2 + beta * L_MI3

* ``L_sup`` (eq. 11, 19): multi-label binary cross-entropy of the fused prediction
  ``p(Y | T_m, T_a)``, the model's output.
* ``L_pred`` (eq. 10, 17): the same on ``p(Y | T_m)``, the head that sees the primary
  bottleneck alone. Appendix B weights "the auxiliary prediction loss" by 0.7; we read that as
  ``L_pred``, the auxiliary (deep-supervision) head whose predictions are not the model's
  output, and leave the main, fused loss ``L_sup`` (the paper's "supplementary prediction
  loss", F.1.2) at weight 1. ``aux_weight`` makes the other reading a one-line change.
* ``L_MI2`` (eq. 12, 25), weight ``alpha``: ``KL(p(t_m | x_m) || q(t_m))``, the primary gate's
  noise model against ``N(mu_m, sigma_m^2)``, summed over the ``J = n_bands x C`` feature
  elements (eq. 25 sums over J) and averaged over samples.
* ``L_MI3`` (eq. 13, 28), weight ``beta``: ``KL(p(t_a | x_m, x_a) || q(t_a))``, the auxiliary
  gates' noise models against ``N(mu_a, sigma_a^2)``, summed over J and averaged over the
  available (sample, auxiliary modality) pairs.
* ``L_MI1`` (eq. 11, 21), weight ``mi1_weight`` (1 in eq. 14):
  ``E_{t_m}[KL(p(t_a | t_m) || q(t_a))]``. In this architecture ``T_m`` reaches ``T_a`` only
  through the auxiliary gate, which reads ``H^m || H^a || T^m``; so the posterior of ``T_a``
  given a sampled ``t_m`` is the auxiliary noise model itself, and
  ``I(T_a; T_m) <= I(T_a; X_m, X_a, T_m) <= E KL(p(t_a | x_m, x_a, t_m) || q(t_a))``: the
  same per-element KL as ``L_MI3``, Monte-Carlo averaged over the drawn ``t_m`` (eq. 21).
  Eq. 21 writes ``L_MI1`` as an *average* while eqs. 25/28 *sum* over J, and eq. 14 gives
  ``L_MI1`` weight 1 against ``alpha = beta = 1e-6`` for the sums; we therefore average
  ``L_MI1`` over the J elements (and samples). With a J-sum at weight 1 the auxiliary gates
  would be driven shut (about 10^4 KL terms per spectrum against one BCE). Even averaged,
  weight 1 is strong: on a toy set whose labels 3-5 show only in the auxiliary spectrum, the
  auxiliary gates closed (mean ``p`` 0.001, fused micro-F1 0.84), while ``mi1_weight`` 0.3 kept
  them open on the informative bands only (mean ``p`` 0.09, F1 1.00). Treat ``mi1_weight`` as a
  hyper-parameter to tune on validation data, as the paper tunes ``alpha`` and ``beta``.

Positive-class weights (``PAIBConfig.label_weighting``, not part of eq. 14): ``"sqrt"`` weighs
each group's positives by ``sqrt(negatives / positives)`` of the training labels, clipped to
[1, 10] (:func:`mspectmol.models.pa_ib.label_pos_weight`), for the rare groups that dominate
macro-F1.

KL terms are computed by :func:`mspectmol.models.gates.gate_kl` with the model's prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mspectmol.errors import MspectmolError
from mspectmol.models.pa_ib import PAIBConfig, PAIBOutput


@dataclass
class PAIBLoss:
    """The terms of eq. 14 (scalars; ``total`` is what to back-propagate)."""

    total: Tensor
    sup: Tensor
    pred: Tensor
    mi1: Tensor
    mi2: Tensor
    mi3: Tensor

    def as_floats(self) -> dict[str, float]:
        """The terms as Python floats, for logging."""
        return {k: float(getattr(self, k).detach()) for k in
                ("total", "sup", "pred", "mi1", "mi2", "mi3")}


def _check_targets(targets: Tensor, logits: Tensor) -> Tensor:
    if not isinstance(targets, Tensor):
        targets = torch.as_tensor(targets)
    if targets.shape != logits.shape:
        raise MspectmolError(f"targets must have shape {tuple(logits.shape)} "
                             f"(batch, n_labels), got {tuple(targets.shape)}")
    targets = targets.to(device=logits.device, dtype=logits.dtype)
    if not bool(torch.isfinite(targets).all()) or bool(((targets < 0) | (targets > 1)).any()):
        raise MspectmolError("targets must be finite and in [0, 1] (multi-hot labels)")
    return targets


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over rows where ``mask`` is True (0 when none is)."""
    weights = mask.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def bce_per_sample(logits: Tensor, targets: Tensor,
                   pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy with logits, averaged over labels: ``(batch,)``."""
    loss = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight,
                                              reduction="none")
    return loss.mean(dim=1)


def pa_ib_loss(output: PAIBOutput, targets: Tensor, config: PAIBConfig, *,
               pos_weight: Tensor | None = None) -> PAIBLoss:
    """Eq. 14 for one batch.

    Parameters
    ----------
    output
        Model output with KL terms (train mode, or ``return_kl=True``).
    targets
        Multi-hot labels ``(batch, n_labels)`` in [0, 1].
    config
        The model's config (weights and modality roles).
    pos_weight
        Optional per-label positive weights for the cross-entropies (label imbalance).

    Raises
    ------
    MspectmolError
        When the output carries no KL terms or the targets do not match the logits.
    """
    if output.kl is None:
        raise MspectmolError("the model output has no KL terms: call the model in train mode "
                             "or with return_kl=True")
    y = _check_targets(targets, output.logits)
    primary_ok = output.available[config.primary]
    sup = bce_per_sample(output.logits, y, pos_weight).mean()
    pred = masked_mean(bce_per_sample(output.logits_primary, y, pos_weight), primary_ok)
    mi2 = masked_mean(output.kl[config.primary], primary_ok)
    zero = output.logits.new_zeros(())
    if config.auxiliary:
        aux_kl = torch.stack([output.kl[m] for m in config.auxiliary])
        aux_ok = torch.stack([output.available[m] for m in config.auxiliary])
        mi3 = masked_mean(aux_kl, aux_ok)
        mi1 = mi3 / output.kl_size
    else:
        mi1 = mi3 = zero
    total = (sup + config.aux_weight * pred + config.mi1_weight * mi1
             + config.alpha * mi2 + config.beta * mi3)
    return PAIBLoss(total=total, sup=sup, pred=pred, mi1=mi1, mi2=mi2, mi3=mi3)
