"""Co-error matrix of functional-group predictions (the paper's appendix P, Figure 8).

The paper counts, for each test molecule, the pairs of groups that are mispredicted together
(a false positive or a false negative each). :func:`coerror_matrix` gives entry ``(i, j)``,
``i != j``, as the number of molecules where groups ``i`` and ``j`` are both wrong; the
diagonal ``(i, i)`` counts the molecules where group ``i`` is the *only* wrong group, so
errors that come alone are not lost. :func:`plot_coerror` draws it as a heatmap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.errors import MspectmolError
from mspectmol.explain.plots import save_figure

#: Largest count from which ``log_scale`` colours on a log scale (below, linear reads better).
LOG_FROM = 20


def _binary(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise MspectmolError(f"{what} must be a (n_molecules, n_groups) array, got shape "
                             f"{arr.shape}")
    if not np.isin(arr, (0, 1)).all():
        raise MspectmolError(f"{what} must hold 0/1 values (pass threshold= to binarise "
                             "probabilities)")
    return arr.astype(bool)


def coerror_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                   threshold: float | Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Symmetric ``(n_groups, n_groups)`` counts of joint and single-group errors.

    Parameters
    ----------
    y_true
        ``(n, n_groups)`` 0/1 labels.
    y_pred
        ``(n, n_groups)`` 0/1 predictions, or probabilities when ``threshold`` is given.
    threshold
        A scalar or per-group thresholds; a group is predicted when ``prob >= threshold``.

    Returns
    -------
    numpy.ndarray
        int64 matrix: ``(i, j)``, ``i != j``, molecules with both ``i`` and ``j`` wrong;
        ``(i, i)`` molecules whose only wrong group is ``i``.
    """
    truth = _binary(y_true, "y_true")
    if threshold is None:
        pred = _binary(y_pred, "y_pred")
    else:
        prob = np.asarray(y_pred, dtype=np.float64)
        if prob.ndim != 2:
            raise MspectmolError(f"y_pred must be a (n_molecules, n_groups) array, got shape "
                                 f"{prob.shape}")
        pred = prob >= np.asarray(threshold, dtype=np.float64)
    if pred.shape != truth.shape:
        raise MspectmolError(f"y_true {truth.shape} and y_pred {pred.shape} differ in shape")
    wrong = (truth != pred).astype(np.int64)
    matrix = wrong.T @ wrong
    alone = wrong[wrong.sum(axis=1) == 1].sum(axis=0)
    np.fill_diagonal(matrix, alone)
    return matrix


def top_pairs(matrix: np.ndarray, names: Sequence[str] = GROUP_NAMES, k: int = 10
              ) -> list[tuple[str, str, int]]:
    """The ``k`` most frequent co-error pairs ``(group_i, group_j, count)``, ``i < j``."""
    m = np.asarray(matrix)
    i, j = np.triu_indices(m.shape[0], k=1)
    order = np.argsort(-m[i, j], kind="stable")[:k]
    return [(names[i[o]], names[j[o]], int(m[i[o], j[o]])) for o in order if m[i[o], j[o]] > 0]


def plot_coerror(matrix: np.ndarray, names: Sequence[str] = GROUP_NAMES,
                 path: str | os.PathLike[str] | None = None, *,
                 title: str = "Co-occurring prediction errors", log_scale: bool = True
                 ) -> Figure:
    """Heatmap of a co-error matrix with group names on both axes.

    Parameters
    ----------
    matrix
        ``(n_groups, n_groups)`` counts from :func:`coerror_matrix`.
    names
        Group names in matrix order.
    path
        Where to save (format from the suffix, e.g. ``.png``/``.svg``); None: do not save.
    title
        Figure title.
    log_scale
        Colour counts on a log scale when the largest is at least :data:`LOG_FROM` (zero
        cells stay blank either way).

    Returns
    -------
    matplotlib.figure.Figure
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(names):
        raise MspectmolError(f"matrix must be square with one row per name ({len(names)}), "
                             f"got shape {m.shape}")
    size = max(6.0, 0.22 * len(names) + 2.5)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.add_subplot()
    shown = np.ma.masked_less_equal(m, 0)
    norm = LogNorm(vmin=1, vmax=m.max()) if log_scale and m.max() >= LOG_FROM else None
    image = ax.imshow(shown, cmap="viridis", norm=norm, interpolation="nearest")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(title)
    bar = fig.colorbar(image, ax=ax, shrink=0.8,
                       label="molecules (diagonal: only this group wrong)")
    bar.formatter = FuncFormatter(lambda v, _: f"{v:g}")
    bar.update_ticks()
    if path is not None:
        save_figure(fig, path)
    return fig
