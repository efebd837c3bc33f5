"""Out-of-distribution score: how unlike the training spectra an input is, to the model.

The score is the Mahalanobis distance of the model's fused representation (for PA-IB the
input of the fused head, ``z_m || z_a1 || ...``; for other neural models their logits)
under a probabilistic PCA fitted to the training representations (Tipping & Bishop 1999):
the top ``k`` principal directions with their variances, and one residual variance for the
rest, so the model file stores ``k + 2`` vectors instead of a full covariance. The threshold
is a quantile (97.5% by default) of the scores of in-domain validation spectra, so that at
most about 5% of in-domain inputs are flagged: the parts of a scaffold split hold different
scaffolds, and validation's 95th percentile put 7.5% of the training and 8.1% of the test
molecules above it for the ``default`` model (:data:`QUANTILE`). :func:`ood_report` gives
the score, the threshold and the flag for each sample.

Mahalanobis scores on a network's features are a standard out-of-distribution detector
(Lee et al. 2018, "A Simple Unified Framework for Detecting Out-of-Distribution Samples and
Adversarial Attacks", NeurIPS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mspectmol.errors import MspectmolError

if TYPE_CHECKING:
    import torch

#: Principal directions kept.
N_COMPONENTS = 32
#: Share of in-domain validation scores below the threshold (97.5%: a margin for the
#: difference between one scaffold split part and another).
QUANTILE = 0.975


def _capture_point(model: torch.nn.Module) -> torch.nn.Module | None:
    import torch

    head = getattr(model, "head_fused", None)
    if isinstance(head, torch.nn.Sequential) and len(head) > 0:
        return head[0]
    return None


def representations(model: torch.nn.Module, spectra: Mapping[str, np.ndarray],
                    available: Mapping[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    """``(n, d)`` fused representations of the rows (logits for models without a fused
    head), in eval mode. Torch is imported here only: scoring (:func:`ood_scores`) needs
    NumPy alone, as the torch-free prediction path does."""
    import torch

    point = _capture_point(model)
    captured: list[torch.Tensor] = []
    hook = None
    if point is not None:
        hook = point.register_forward_pre_hook(lambda _m, args: captured.append(
            args[0].detach().float().cpu()))
    model.eval()
    n = len(next(iter(spectra.values())))
    outs = []
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                sl = slice(start, start + batch_size)
                batch = {m: torch.from_numpy(np.ascontiguousarray(x[sl], dtype=np.float32))
                         for m, x in spectra.items()}
                avail = {m: torch.from_numpy(np.asarray(a[sl], dtype=bool))
                         for m, a in available.items()}
                out = model(batch, avail)
                if point is None:
                    logits = out.logits if hasattr(out, "logits") else out
                    outs.append(logits.float().cpu())
    finally:
        if hook is not None:
            hook.remove()
    rows = captured if point is not None else outs
    return torch.cat(rows).numpy().astype(np.float64) if rows else np.zeros((0, 0))


def fit_ood(train_reps: np.ndarray, val_reps: np.ndarray, *, k: int = N_COMPONENTS,
            quantile: float = QUANTILE) -> dict[str, Any]:
    """The probabilistic-PCA model of ``train_reps`` and a threshold from ``val_reps``.

    Returns
    -------
    dict
        JSON-ready: ``mean``, ``components`` (k x d), ``variances`` (k), ``residual``,
        ``threshold``, ``quantile``, ``n_fit``, ``method``.
    """
    x = np.asarray(train_reps, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 10:
        raise MspectmolError(f"need at least 10 training representations, got {x.shape}")
    mean = x.mean(axis=0)
    _, sing, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = sing ** 2 / (x.shape[0] - 1)
    k = int(min(k, var.size - 1))
    residual = float(max(var[k:].mean(), 1e-12 * var[0])) if var.size > k else 1e-12
    model = {"method": "probabilistic PCA Mahalanobis (fused representation)",
             "mean": mean.tolist(), "components": vt[:k].tolist(),
             "variances": np.maximum(var[:k], residual).tolist(), "residual": residual,
             "n_fit": int(x.shape[0]), "quantile": float(quantile)}
    model["threshold"] = float(np.quantile(ood_scores(val_reps, model), quantile))
    return model


def ood_scores(reps: np.ndarray, model: Mapping[str, Any]) -> np.ndarray:
    """Mahalanobis distances (square root of the PPCA quadratic form), one per row,
    divided by the square root of the dimension so that typical in-domain values are ~1."""
    x = np.asarray(reps, dtype=np.float64) - np.asarray(model["mean"])
    comps = np.asarray(model["components"])
    proj = x @ comps.T
    resid = (x * x).sum(axis=1) - (proj * proj).sum(axis=1)
    quad = (proj * proj / np.asarray(model["variances"])).sum(axis=1) + np.maximum(
        resid, 0.0) / float(model["residual"])
    return np.sqrt(quad / x.shape[1])


def ood_report(scores: np.ndarray, model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{"score", "threshold", "flagged"}`` per row."""
    t = float(model["threshold"])
    return [{"score": float(s), "threshold": t, "flagged": bool(s > t)} for s in scores]
