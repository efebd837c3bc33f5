"""Small helpers shared by ``mspectmol predict`` and ``mspectmol explain``.

A model file describes its input grids (``model.json``, :class:`~mspectmol.models.io.ModelMeta`):
:func:`model_grid` rebuilds them, :func:`model_thresholds` gives the decision threshold of each
group (the tuned ones stored with the model, else 0.5), :func:`probability_table` and
:func:`format_regions` format probabilities and spectral regions as text, and
:func:`table_rows` decides how many groups a text report lists. Only NumPy and the modality
registry are imported, so the command line starts fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mspectmol.spectra.modalities import get_modality

#: Groups a text report lists at least when no count is asked for (and every call).
DEFAULT_ROWS = 10


def plain_label(label: str) -> str:
    """A registry label without its TeX markup (``"$^{13}$C NMR"`` -> ``"13C NMR"``)."""
    return "".join(ch for ch in label if ch not in "${}^")


def _decimals(grid: np.ndarray) -> int:
    step = abs(float(grid[1] - grid[0]))
    return min(3, max(0, -math.floor(math.log10(step)))) if step > 0 else 2


def format_regions(modality: str, regions: Sequence[tuple[float, float, float]],
                   grid: np.ndarray) -> str:
    """``"IR: 1850 to 1650 cm-1 (24%), ..."`` in the modality's reading direction."""
    mod = get_modality(modality)
    d = _decimals(grid)
    parts = []
    for lo, hi, weight in regions:
        a, b = (hi, lo) if mod.x_decreasing else (lo, hi)
        parts.append(f"{a:.{d}f} to {b:.{d}f} {mod.x_unit} ({weight:.0%})")
    return f"{plain_label(mod.label)}: " + (", ".join(parts) or "none")


def table_rows(prob: np.ndarray, calls: Sequence[int], top: int | None = None) -> int:
    """Rows of a text report's group table (groups by decreasing probability).

    Parameters
    ----------
    prob
        Probability of each group.
    calls
        Indices of the called groups (with per-group thresholds a call may rank below
        groups that are not called).
    top
        Rows asked for (0: every group); None: at least :data:`DEFAULT_ROWS`, and down to
        the least probable call.
    """
    n_groups = len(prob)
    if top is not None:
        return n_groups if top == 0 else min(top, n_groups)
    rank = np.empty(n_groups, dtype=int)
    rank[np.argsort(-np.asarray(prob), kind="stable")] = np.arange(n_groups)
    last = max((int(rank[i]) for i in calls), default=-1)
    return min(n_groups, max(DEFAULT_ROWS, last + 1))


def probability_table(names: Sequence[str], prob: np.ndarray, thresholds: np.ndarray,
                      top: int | None = None, labels: np.ndarray | None = None) -> list[str]:
    """Text rows ``group  prob  threshold  call [true]``, by decreasing probability.

    Parameters
    ----------
    names, prob, thresholds
        Group names, probabilities and decision thresholds, one per group.
    top
        Rows shown (None or 0: every group); a last line counts the groups left out.
    labels
        Known 0/1 labels, shown in a ``true`` column when given.
    """
    width = max(len(n) for n in names)
    head = f"  {'group':<{width}}  prob   threshold  call" + ("  true" if labels is not None
                                                           else "")
    lines = [head]
    shown = len(names) if not top else min(top, len(names))
    for i in np.argsort(-np.asarray(prob), kind="stable")[:shown]:
        call = "yes" if prob[i] >= thresholds[i] else "-"
        true = f"  {'yes' if labels[i] else '-'}" if labels is not None else ""
        row = f"  {names[i]:<{width}}  {prob[i]:.3f}  {thresholds[i]:.3f}      {call:<4}{true}"
        lines.append(row.rstrip())
    if shown < len(names):
        lines.append(f"  ({len(names) - shown} less probable groups not listed; --top all "
                     "lists every group)")
    return lines
