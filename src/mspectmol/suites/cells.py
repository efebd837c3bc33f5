"""Cells of the benchmark tables: lines, column titles, means and their formatting.

A table has one :class:`TableLine` per spectrum configuration (and test condition) and one
column per model or variant, titled by :func:`model_title` from the title each model is
registered with (:func:`mspectmol.models.registry.register_model`). A cell is the mean
(standard deviation over seeds, ``ddof=1``) of the rows :func:`matching_rows` finds,
formatted by :func:`format_cell` with the best of a line in bold and the second best
underlined (:func:`ranks`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mspectmol.models.registry import available_models, get_model_spec


@dataclass(frozen=True)
class TableLine:
    """One line of a results table: a spectrum configuration.

    Attributes
    ----------
    title
        Markdown text of the first cell (primary in bold).
    primary
        The primary modality (matched against role-aware models' rows).
    modalities
        The modality set as written in rows (``"ir+c_nmr+h_nmr"``).
    condition
        A test condition's name: cells then show the metric of the row's ``conditions``
        entry of that name (robustness suites); empty: the row's own test metric.
    """

    title: str
    primary: str
    modalities: str
    condition: str = ""


def model_title(name: str, titles: Mapping[str, str] | None = None) -> str:
    """Column title of a model or variant: its title and its name (``Title (`name`)``).

    Parameters
    ----------
    name
        A registered model's name or a variant's.
    titles
        Titles by name that take precedence (variants' titles).

    Returns
    -------
    str
        ``titles[name]``, else the ``title`` the model was registered with, followed by the
        name in backticks; the name alone when neither gives a title (a variant without
        one, or a name that is not registered).
    """
    title = (titles or {}).get(name)
    if not title and name in available_models():
        title = get_model_spec(name).title
    return f"{title} (`{name}`)" if title else f"`{name}`"


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def matching_rows(rows: Iterable[Mapping[str, Any]], line: TableLine, model: str,
                  split: str) -> list[Mapping[str, Any]]:
    """Rows of ``model`` on ``split`` that belong in the cell of ``line``."""
    return [r for r in rows
            if r["model"] == model and r["split"] == split
            and r["modalities"] == line.modalities
            and (not _is_true(r["role_aware"]) or r["primary"] == line.primary)]


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (``ddof=1``; NaN for one value) and count."""
    arr = np.asarray([float(v) for v in values], dtype=np.float64)
    if arr.size == 0:
        return math.nan, math.nan, 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return float(arr.mean()), std, int(arr.size)


def format_cell(mean: float, std: float, n: int, *, digits: int = 3, rank: int = 0,
                expected: int | None = None) -> str:
    """``mean (std)``; bold when ``rank`` is 1, underlined when 2; ``†`` when ``n`` is short.

    An empty cell (``n == 0``) is ``–``; with one value the standard deviation is left out.
    """
    if n == 0:
        return "–"
    text = f"{mean:.{digits}f}"
    if rank == 1:
        text = f"**{text}**"
    elif rank == 2:
        text = f"<u>{text}</u>"
    if n > 1:
        text += f" ({std:.{digits}f})"
    if expected is not None and n < expected:
        text += " †"
    return text


def ranks(means: Sequence[float], digits: int = 3) -> list[int]:
    """1 for the best value(s), 2 for the second best, 0 otherwise (NaN: 0).

    Values are compared as displayed (rounded to ``digits``), so ties share a rank. With a
    single finite value nothing is marked.
    """
    shown = [round(m, digits) if math.isfinite(m) else None for m in means]
    distinct = sorted({s for s in shown if s is not None}, reverse=True)
    if sum(s is not None for s in shown) < 2:
        return [0] * len(shown)
    order = {value: i + 1 for i, value in enumerate(distinct[:2])}
    return [order.get(s, 0) if s is not None else 0 for s in shown]
