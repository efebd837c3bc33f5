"""Where a model looks: gate importance maps, per-group attributions and spectral regions.

Gate importance (the paper's Figures 5 and 7)
---------------------------------------------
A PA-IB model keeps band ``i`` of a spectrum with probability ``p_i`` (its information-
bottleneck gate, :mod:`mspectmol.models.gates`); in eval mode the bottleneck is
``T_i = mu + p_i (H_i - mu)``, so ``p_i`` is how much of band ``i`` reaches the classifier.
:func:`gate_importance` maps these probabilities back onto the input grid:

* **Bands to points.** The encoder's convolutions keep the length ("same" padding) and each
  MaxPool(2) halves it, so after ``s`` stages band ``i`` is the pooled summary of points
  ``[i f, (i + 1) f)`` with ``f = n_points // n_bands`` (4 for 600 points and two stages).
  Every point gets its band's probability (``numpy.repeat``, a piecewise-constant
  upsampling); the few trailing points a floor-division pool drops get the last band's.
  The convolution's receptive field reaches further than ``f`` points: the map says which
  band the gate kept, not every point that fed it.
* **Normalisation.** Each molecule's map of each modality is divided by its sum, so it adds up
  to 1: a distribution of the kept information over the spectrum, comparable between
  molecules and modalities whatever the overall gate level (KL pressure lowers all
  probabilities together). Absolute probabilities are available with ``normalise=False``.
  A modality that was unavailable for a molecule (its gates are zeroed by the model) gets a
  row of NaN, not zeros, so averages over molecules skip it.

Per-group attribution
---------------------
The gates are shared by all 37 outputs, so one gate map cannot say which bands a *particular*
call relies on. :func:`group_attribution` combines it with gradient x input (Shrikumar et al.
2016, "Not just a black box"): ``|x_j d logit_g / d x_j|`` per point, multiplied by the gate
map and renormalised, i.e. "information the bottleneck let through *and* the group's logit
depends on". Gradient x input is zero where the input is zero, so the absence of a peak never
shows up as important even when it is informative; read attributions with that in mind.

A :class:`~mspectmol.models.numpy_pa_ib.NumpyPAIB` (PA-IB in NumPy) gives the same gate maps and
gradients as its torch module; torch is imported only for torch models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.models.numpy_pa_ib import NumpyPAIB

if TYPE_CHECKING:
    import torch

#: Groups whose SMARTS contain a carbonyl (C=O), for :func:`carbonyl_window_fraction`.
CARBONYL_GROUPS = ("Ketone", "Aldehyde", "Ester", "Amide", "Carboxylic acid", "Acid anhydride",
                   "Acyl halide", "Imide", "Carbamate")
#: The C=O stretching window in cm-1 (most carbonyls absorb at 1650-1850 cm-1).
CARBONYL_WINDOW = (1650.0, 1850.0)
BATCH = 256


@dataclass
class GatedOutput:
    """Logits and (when the model has gates) gate probabilities of a batch of spectra.

    Attributes
    ----------
    logits
        ``(n, n_labels)`` float64.
    gate_probs
        ``{modality: (n, n_bands)}`` float64 keep probabilities (None without gates).
    available
        ``{modality: (n,) bool}`` availability the model used (None without gates).
    fused
        The fused representation (NumPy models; for the out-of-distribution score), or None.
    """

    logits: np.ndarray
    gate_probs: dict[str, np.ndarray] | None
    available: dict[str, np.ndarray] | None
    fused: np.ndarray | None = None


def _tensors(spectra: Mapping[str, Any], rows: slice) -> dict[str, torch.Tensor]:
    import torch

    return {m: torch.as_tensor(np.asarray(x, dtype=np.float32)[rows]) for m, x in spectra.items()}


def _batch_size(spectra: Mapping[str, Any]) -> int:
    sizes = {m: int(np.shape(x)[0]) for m, x in spectra.items()}
    if not sizes:
        raise MspectmolError("no spectra given")
    if len(set(sizes.values())) != 1:
        raise MspectmolError(f"modalities have different numbers of spectra: {sizes}")
    return next(iter(sizes.values()))


def run_with_gates(model: torch.nn.Module | NumpyPAIB, spectra: Mapping[str, Any],
                   available: Mapping[str, Any] | None = None, *,
                   batch_size: int = BATCH) -> GatedOutput:
    """Run a neural model in eval mode and collect its logits and gate probabilities.

    Parameters
    ----------
    model
        A neural model (``forward(spectra, available)``), e.g. a PA-IB model, torch or
        NumPy. Outputs without a ``gate_probs`` attribute (plain logits) give
        ``gate_probs=None``.
    spectra
        ``{modality: (n, n_points) array}`` on the model's grids.
    available
        Optional ``{modality: (n,) bool}`` masks.
    batch_size
        Molecules per forward pass.
    """
    if isinstance(model, NumpyPAIB):
        out = model.forward(spectra, available, batch_size=batch_size)
        return GatedOutput(out.logits.astype(np.float64),
                           {m: p.astype(np.float64) for m, p in out.gate_probs.items()},
                           out.available, out.fused)
    import torch

    if not isinstance(model, torch.nn.Module):
        raise MspectmolError(f"a {type(model).__name__} is not a neural model; only neural "
                             "models have gates")
    n = _batch_size(spectra)
    was_training = model.training
    model.eval()
    logits, probs, masks = [], [], []
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                rows = slice(start, start + batch_size)
                avail = None if available is None else _tensors(available, rows)
                out = model(_tensors(spectra, rows), avail)
                logits.append((out if isinstance(out, torch.Tensor) else out.logits).double())
                if getattr(out, "gate_probs", None) is not None:
                    probs.append({m: p.double() for m, p in out.gate_probs.items()})
                    masks.append(dict(out.available))
    finally:
        model.train(was_training)
    if not probs:
        return GatedOutput(torch.cat(logits).numpy(), None, None)
    return GatedOutput(torch.cat(logits).numpy(),
                       {m: torch.cat([p[m] for p in probs]).numpy() for m in probs[0]},
                       {m: torch.cat([a[m] for a in masks]).numpy() for m in masks[0]})


def bands_to_points(band_values: np.ndarray, n_points: int) -> np.ndarray:
    """Repeat each band's value over the grid points it pools (see the module docstring).

    Parameters
    ----------
    band_values
        ``(n, n_bands)`` values.
    n_points
        Points of the input grid (at least ``n_bands``).

    Returns
    -------
    numpy.ndarray
        ``(n, n_points)`` float64.
    """
    values = np.atleast_2d(np.asarray(band_values, dtype=np.float64))
    n_bands = values.shape[1]
    if n_bands < 1 or n_points < n_bands:
        raise MspectmolError(f"cannot map {n_bands} bands onto {n_points} points")
    band_of_point = np.minimum(np.arange(n_points) // (n_points // n_bands), n_bands - 1)
    return values[:, band_of_point]


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """Divide each row by its sum; rows that sum to zero (or are NaN) become NaN."""
    maps = np.asarray(maps, dtype=np.float64)
    total = maps.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, maps / np.where(total > 0, total, 1.0), np.nan)


def importance_from_gates(gated: GatedOutput, n_points: int | Mapping[str, int], *,
                          normalise: bool = True) -> dict[str, np.ndarray]:
    """``{modality: (n, n_points)}`` maps from :func:`run_with_gates` output (``n_points``:
    one grid size for all modalities or one per modality)."""
    if gated.gate_probs is None:
        raise MspectmolError("this model has no information-bottleneck gates, so it has no "
                             "gate importance")
    out = {}
    for m, probs in gated.gate_probs.items():
        maps = bands_to_points(probs, n_points[m] if isinstance(n_points, Mapping) else n_points)
        if normalise:
            maps = normalise_maps(maps)
        if gated.available is not None and m in gated.available:
            maps[~np.asarray(gated.available[m], dtype=bool)] = np.nan
        out[m] = maps
    return out


def gate_importance(model: torch.nn.Module | NumpyPAIB, spectra: Mapping[str, Any],
                    available: Mapping[str, Any] | None = None, *, normalise: bool = True,
                    batch_size: int = BATCH) -> dict[str, np.ndarray]:
    """Gate importance maps on the input grid (see the module docstring).

    Parameters
    ----------
    model
        A model whose output has ``gate_probs`` (PA-IB, symmetric IB).
    spectra, available, batch_size
        As for :func:`run_with_gates`.
    normalise
        Divide each map by its sum (default) or keep the keep probabilities.

    Returns
    -------
    dict
        ``{modality: (n, n_points) float64}``, non-negative, each row summing to 1 when
        normalised; NaN rows where the modality was unavailable.

    Raises
    ------
    MspectmolError
        When the model has no gates or the inputs are inconsistent.
    """
    gated = run_with_gates(model, spectra, available, batch_size=batch_size)
    n_points = int(np.shape(next(iter(spectra.values())))[1])
    return importance_from_gates(gated, n_points, normalise=normalise)


def group_attribution(model: torch.nn.Module | NumpyPAIB, spectra: Mapping[str, Any],
                      group: int | Sequence[int],
                      available: Mapping[str, Any] | None = None,
                      gate_maps: Mapping[str, np.ndarray] | None = None
                      ) -> dict[str, np.ndarray]:
    """Per-group attribution: gate importance x |gradient x input| of one output, normalised.

    Parameters
    ----------
    model
        A neural model.
    spectra
        ``{modality: (n, n_points) array}``.
    group
        Output (label) index whose logit is explained, or one index per row (rows are
        independent in eval mode, so one backward pass explains a different group per row).
    available
        Optional availability masks.
    gate_maps
        Gate importance of the same spectra (from :func:`gate_importance`); None for a model
        without gates (the attribution is then gradient x input alone).

    Returns
    -------
    dict
        ``{modality: (n, n_points)}`` rows summing to 1; NaN rows where the modality was
        unavailable or the attribution is zero everywhere.
    """
    n = _batch_size(spectra)
    if isinstance(model, NumpyPAIB):
        grads = model.input_gradient(spectra, group, available)
        inputs = {m: np.asarray(x, dtype=np.float32) for m, x in spectra.items()}
    else:
        inputs, grads = _torch_gradient(model, spectra, group, available, n)
    result = {}
    for m, x in inputs.items():
        attr = np.abs(x * grads[m]).astype(np.float64)
        if gate_maps is not None and m in gate_maps:
            attr = attr * np.nan_to_num(np.asarray(gate_maps[m], dtype=np.float64), nan=0.0)
        maps = normalise_maps(attr)
        if available is not None and m in available:
            maps[~np.asarray(available[m], dtype=bool)] = np.nan
        result[m] = maps
    return result


def _torch_gradient(model: torch.nn.Module, spectra: Mapping[str, Any],
                    group: int | Sequence[int], available: Mapping[str, Any] | None, n: int
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Inputs (float32) and ``d logit[row, group[row]] / d input`` of a torch model."""
    import torch

    inputs = {m: torch.tensor(np.asarray(x, dtype=np.float32), requires_grad=True)
              for m, x in spectra.items()}
    avail = None if available is None else _tensors(available, slice(0, n))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(inputs, avail)
            logits = out if isinstance(out, torch.Tensor) else out.logits
            groups = np.broadcast_to(np.asarray(group, dtype=np.int64), (n,))
            if groups.size and not (0 <= groups.min() and groups.max() < logits.shape[1]):
                raise MspectmolError(f"group index {group} is outside 0..{logits.shape[1] - 1}")
            logits[torch.arange(n), torch.from_numpy(groups.copy())].sum().backward()
    finally:
        model.train(was_training)
    grads = {m: (x.grad if x.grad is not None else torch.zeros_like(x)).numpy()
             for m, x in inputs.items()}
    return {m: x.detach().numpy() for m, x in inputs.items()}, grads


def group_importance(maps: Mapping[str, np.ndarray], labels: np.ndarray
                     ) -> dict[str, np.ndarray]:
    """Mean importance map of the molecules that contain each group.

    Parameters
    ----------
    maps
        ``{modality: (n, n_points)}`` importance (NaN rows, unavailable spectra, are skipped).
    labels
        ``(n, n_groups)`` 0/1 labels.

    Returns
    -------
    dict
        ``{modality: (n_groups, n_points)}``; a group no molecule (with that spectrum) contains
        gets a NaN row.
    """
    y = np.asarray(labels)
    if y.ndim != 2 or not np.isin(y, (0, 1)).all():
        raise MspectmolError(f"labels must be a (n, n_groups) 0/1 array, got shape {y.shape}")
    y = y.astype(np.float64)
    out = {}
    for m, arr in maps.items():
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != y.shape[0]:
            raise MspectmolError(f"{m} importance must have shape ({y.shape[0]}, n_points), "
                                 f"got {a.shape}")
        valid = ~np.isnan(a).any(axis=1)
        counts = y[valid].sum(axis=0)
        sums = y[valid].T @ a[valid]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[m] = np.where(counts[:, None] > 0, sums / counts[:, None], np.nan)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop)]`` index ranges of the True runs of a boolean vector."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def top_regions(importance: np.ndarray, grid: np.ndarray, k: int = 3, *,
                min_width: float = 0.0, level: float | None = None, max_gap: float = 0.0
                ) -> list[tuple[float, float, float]]:
    """The ``k`` spectral regions holding the most importance.

    Points above ``level`` (default: the map's mean, i.e. above a uniform spread) are
    "high"; runs of adjacent high points, with gaps of at most ``max_gap`` (x units)
    bridged, form regions. A region's weight is its share of the map's total importance.

    Parameters
    ----------
    importance
        ``(n_points,)`` non-negative map.
    grid
        ``(n_points,)`` ascending x values.
    k
        Number of regions returned (fewer when there are fewer).
    min_width
        Regions narrower than this (x units, ``x_end - x_start``) are dropped.
    level
        Threshold for "high"; default the mean.
    max_gap
        Largest gap (x units) between two runs that still merges them.

    Returns
    -------
    list of (x_start, x_end, weight)
        Sorted by decreasing weight; ``x_start <= x_end`` in grid order. Empty when the
        map is all NaN or zero.
    """
    imp = np.asarray(importance, dtype=np.float64)
    x = np.asarray(grid, dtype=np.float64)
    if imp.ndim != 1 or imp.shape != x.shape:
        raise MspectmolError(f"importance {imp.shape} and grid {x.shape} must be equal 1-D shapes")
    if k < 1:
        raise MspectmolError(f"k must be >= 1, got {k}")
    if np.isnan(imp).all():
        return []
    imp = np.nan_to_num(imp, nan=0.0)
    if (imp < 0).any():
        raise MspectmolError("importance must be non-negative")
    total = imp.sum()
    if total <= 0:
        return []
    threshold = imp.mean() if level is None else float(level)
    runs = _runs(imp > threshold)
    merged: list[list[int]] = []
    for start, stop in runs:
        if merged and x[start] - x[merged[-1][1] - 1] <= max_gap:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])
    regions = [(float(x[a]), float(x[b - 1]), float(imp[a:b].sum() / total))
               for a, b in merged if x[b - 1] - x[a] >= min_width]
    return sorted(regions, key=lambda r: -r[2])[:k]


class WindowFraction(NamedTuple):
    """Result of :func:`carbonyl_window_fraction`."""

    fraction: float
    hits: int
    total: int


def top_band_centre(importance: np.ndarray, grid: np.ndarray) -> float:
    """x at the centre of the run of points sharing the map's maximum (its top band)."""
    imp = np.nan_to_num(np.asarray(importance, dtype=np.float64), nan=-np.inf)
    best = int(np.argmax(imp))
    run = _runs(np.isclose(imp, imp[best], rtol=1e-9, atol=0.0))
    start, stop = next((a, b) for a, b in run if a <= best < b)
    x = np.asarray(grid, dtype=np.float64)
    return float((x[start] + x[stop - 1]) / 2)


def carbonyl_window_fraction(maps_ir: np.ndarray, grid: np.ndarray, labels: np.ndarray,
                             group_indices: Sequence[int] | None = None, *,
                             window: tuple[float, float] = CARBONYL_WINDOW) -> WindowFraction:
    """Share of carbonyl molecules whose top IR band lies in the C=O window.

    Parameters
    ----------
    maps_ir
        ``(n, n_points)`` IR importance maps (NaN rows, no IR, are skipped).
    grid
        The IR grid (cm-1).
    labels
        ``(n, n_groups)`` 0/1 labels.
    group_indices
        Label columns of the carbonyl groups (default: :data:`CARBONYL_GROUPS` in
        :data:`GROUP_NAMES` order).
    window
        ``(low, high)`` cm-1, inclusive.

    Returns
    -------
    WindowFraction
        ``fraction`` (NaN when no molecule qualifies), ``hits`` and ``total``.
    """
    maps = np.asarray(maps_ir, dtype=np.float64)
    y = np.asarray(labels)
    if maps.ndim != 2 or y.ndim != 2 or maps.shape[0] != y.shape[0]:
        raise MspectmolError(f"maps {maps.shape} and labels {y.shape} must have the same rows")
    from mspectmol.chem.functional_groups import GROUP_NAMES  # RDKit: not for the maps

    idx = ([GROUP_NAMES.index(g) for g in CARBONYL_GROUPS] if group_indices is None
           else list(group_indices))
    rows = np.flatnonzero(y[:, idx].any(axis=1) & ~np.isnan(maps).all(axis=1))
    lo, hi = window
    hits = sum(lo <= top_band_centre(maps[r], grid) <= hi for r in rows)
    total = int(rows.size)
    return WindowFraction(hits / total if total else float("nan"), int(hits), total)
