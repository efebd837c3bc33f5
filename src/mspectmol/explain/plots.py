"""Figures of spectra with their importance, predicted groups and the molecule.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, so no GUI backend
and no global state; saving renders with Agg for PNG and the SVG backend for SVG). Axes follow
chemists' conventions through the modality registry's ``x_decreasing`` (IR and Raman from 4000
to 400 cm-1, NMR with ppm decreasing to the right). Each spectrum panel's axes carry the
modality name as their label (``ax.get_label()``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.patches import Patch

from mspectmol.chem.functional_groups import GROUP_NAMES, FunctionalGroupError, get_group
from mspectmol.errors import MspectmolError
from mspectmol.explain.molecule import draw_molecule, group_atoms, group_colours
from mspectmol.fileio import atomic_path
from mspectmol.spectra.modalities import get_modality

#: Output formats :func:`save_figure` accepts (by file suffix).
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
#: Importance shading: white (least important point of the map) to this red (most important).
IMPORTANCE_RED = "#e4572e"
IMPORTANCE_CMAP = LinearSegmentedColormap.from_list("mspectmol_importance",
                                                    ["#ffffff", IMPORTANCE_RED])
GROUP_MAP_CMAP = "RdYlBu_r"


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Save ``fig`` in the format its suffix names (PNG, SVG or PDF); returns the path."""
    p = Path(path)
    if p.suffix.lower() not in FIGURE_SUFFIXES:
        raise MspectmolError(f"{p}: unsupported figure format {p.suffix or '(no suffix)'!r}; "
                             f"use {', '.join(FIGURE_SUFFIXES)}")
    with atomic_path(p, suffix=p.suffix, what="cannot write the figure") as tmp:
        fig.savefig(tmp, dpi=dpi, format=p.suffix.lower()[1:])
    return p


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around ascending points (midpoints, ends extended by half a step)."""
    mid = (x[1:] + x[:-1]) / 2
    return np.r_[x[0] - (mid[0] - x[0]), mid, x[-1] + (x[-1] - mid[-1])]


def _shade(ax: Axes, x: np.ndarray, imp: np.ndarray, top: float) -> str:
    """Importance as a coloured background from 0 to ``top``; returns the contrast note.

    Colours span the map's own minimum (white) to maximum (red), so the bands the gate keeps
    most stand out even when all gates are fairly open; the note gives that range, which says
    how much contrast the scaling stretches (a gate near 0 somewhere makes any ratio useless).
    """
    lo, hi = float(np.nanmin(imp)), float(np.nanmax(imp))
    shown = np.ma.masked_invalid((imp - lo) / (hi - lo) if hi > lo else np.zeros_like(imp))
    ax.pcolormesh(_edges(x), [0.0, top], shown[None, :], cmap=IMPORTANCE_CMAP, vmin=0.0,
                  vmax=1.0, shading="flat", alpha=0.7, linewidth=0, rasterized=True)
    return f"importance {lo:.2g} to {hi:.2g}"


def _spectrum_panel(ax: Axes, modality: str, x: np.ndarray, y: np.ndarray,
                    imp: np.ndarray | None, note: str | None) -> None:
    mod = get_modality(modality)
    order = np.argsort(x)
    x, y = x[order], y[order]
    top = float(max(np.nanmax(y), 0.0)) * 1.08 or 1.0
    handles = []
    if imp is not None:
        imp = np.asarray(imp, dtype=np.float64)[order]
        if np.isfinite(imp).any() and np.nanmax(imp) > 0:
            contrast = _shade(ax, x, imp, top)
            note = f"{note}; {contrast}" if note else contrast
            handles.append(Patch(color=IMPORTANCE_RED, alpha=0.7,
                                 label="gate importance"))
    ax.plot(x, y, color="black", lw=0.9, label="spectrum")
    handles.insert(0, ax.lines[-1])
    lo, hi = float(x[0]), float(x[-1])
    ax.set_xlim((hi, lo) if mod.x_decreasing else (lo, hi))
    ax.set_ylim(min(0.0, float(np.nanmin(y)) * 1.08), top)
    ax.set_xlabel(mod.x_label)
    ax.set_ylabel("Intensity (norm.)")
    ax.set_title(mod.label, loc="left", fontsize=10)
    ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=False)
    if note:
        ax.set_title(note, loc="right", fontsize=7, color="0.35")
    ax.set_label(mod.name)


def _predictions_panel(ax: Axes, predictions: Sequence[tuple[str, float]],
                       colours: Mapping[str, tuple[float, float, float]]) -> None:
    ax.set_title("Predicted groups", loc="left", fontsize=10)
    if not predictions:
        ax.text(0.5, 0.5, "no group predicted", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return
    names = [g for g, _ in predictions]
    probs = [float(p) for _, p in predictions]
    pos = np.arange(len(names))
    ax.barh(pos, probs, color=[colours.get(g, (0.75, 0.75, 0.75)) for g in names],
            edgecolor="0.3", linewidth=0.5)
    for i, p in enumerate(probs):
        ax.text(min(p, 1.0) + 0.02, i, f"{p:.2f}", va="center", fontsize=8)
    ax.set_yticks(pos, names, fontsize=8)
    ax.set_xlim(0, 1.18)
    ax.set_xticks([0, 0.5, 1.0])
    ax.set_xlabel("probability")
    ax.set_ylim(max(len(names), 6) - 0.5, -0.5)


def _molecule_panel(ax: Axes, smiles: str, groups: Sequence[str],
                    colours: Mapping[str, tuple[float, float, float]]) -> None:
    png = draw_molecule(smiles, groups, fmt="png", size=(520, 420), colours=dict(colours))
    ax.imshow(imread(io.BytesIO(png), format="png"))
    ax.set_axis_off()
    ax.set_title(smiles if len(smiles) <= 40 else smiles[:37] + "...", fontsize=8)
    shown = [Patch(color=colours[g], label=g) for g in groups]
    if shown:
        ax.legend(handles=shown, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7,
                  frameon=False, ncols=2)


def _is_group(name: str) -> bool:
    try:
        get_group(name)
    except FunctionalGroupError:
        return False
    return True


def plot_spectra_importance(spectra: Mapping[str, tuple[np.ndarray, np.ndarray]],
                            importance: Mapping[str, np.ndarray | None] | None = None,
                            predictions: Sequence[tuple[str, float]] = (), title: str = "",
                            smiles: str | None = None,
                            path: str | os.PathLike[str] | None = None, *,
                            notes: Mapping[str, str] | None = None) -> Figure:
    """One figure: a panel per spectrum with its importance, the predictions, the molecule.

    Parameters
    ----------
    spectra
        ``{modality: (x, y)}`` in the modality's canonical unit, in panel order.
    importance
        ``{modality: (n_points,)}`` maps on the same ``x`` (e.g. from
        :func:`~mspectmol.explain.importance.gate_importance`); missing or None entries,
        or None altogether, draw the spectrum without shading.
    predictions
        ``[(group name, probability)]`` in display order.
    title
        Figure title.
    smiles
        When given, the molecule is drawn with the atoms of each predicted group it contains
        highlighted in the group's colour (the bars use the same colours; names that are
        not functional groups of :mod:`mspectmol.chem.functional_groups` are not drawn).
    path
        Save to this file (``.png``, ``.svg`` or ``.pdf``); None: do not save.
    notes
        ``{modality: text}`` small notes in the panels' corners.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MspectmolError
        No spectra, mismatched lengths, unsupported file suffix.
    InvalidSmilesError
        For an invalid SMILES.
    """
    if not spectra:
        raise MspectmolError("no spectra to plot")
    importance = importance or {}
    names = [g for g, _ in predictions]
    in_molecule: list[str] = []
    if smiles is not None:
        known = [g for g in names if _is_group(g)]
        in_molecule = [g for g, (atoms, _) in group_atoms(smiles, known).items() if atoms]
    colours = group_colours(in_molecule)
    n = len(spectra)
    fig = Figure(figsize=(12.0, max(2.6 * n, 6.5)), layout="constrained")
    grid = fig.add_gridspec(max(n, 2), 2, width_ratios=(2.6, 1.2))
    for i, (m, (x, y)) in enumerate(spectra.items()):
        x_arr, y_arr = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        imp = importance.get(m)
        if x_arr.ndim != 1 or x_arr.shape != y_arr.shape or x_arr.size < 2:
            raise MspectmolError(f"{m}: x and y must be equal-length 1-D arrays, got "
                                 f"{x_arr.shape} and {y_arr.shape}")
        if imp is not None and np.shape(imp) != x_arr.shape:
            raise MspectmolError(f"{m}: importance has shape {np.shape(imp)}, the spectrum "
                                 f"{x_arr.shape}")
        _spectrum_panel(fig.add_subplot(grid[i, 0]), m, x_arr, y_arr, imp,
                        (notes or {}).get(m))
    if smiles is None:
        _predictions_panel(fig.add_subplot(grid[:, 1]), predictions, colours)
    else:
        half = max(n, 2) // 2
        _predictions_panel(fig.add_subplot(grid[:half, 1]), predictions, colours)
        _molecule_panel(fig.add_subplot(grid[half:, 1]), smiles, in_molecule, colours)
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def _row_minmax(data: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] between its finite minimum and maximum (flat rows: 0)."""
    out = np.full_like(data, np.nan)
    for i, row in enumerate(data):
        ok = np.isfinite(row)
        if ok.any():
            lo, hi = row[ok].min(), row[ok].max()
            out[i, ok] = (row[ok] - lo) / (hi - lo) if hi > lo else 0.0
    return out


def plot_group_importance(group_maps: Mapping[str, np.ndarray],
                          grids: Mapping[str, np.ndarray],
                          groups: Sequence[str] | None = None,
                          path: str | os.PathLike[str] | None = None, *,
                          names: Sequence[str] = GROUP_NAMES, row_normalise: bool = True,
                          title: str = "Mean importance per functional group") -> Figure:
    """Heatmaps of the mean importance per group across each spectrum (Figures 5 and 7).

    Parameters
    ----------
    group_maps
        ``{modality: (n_groups, n_points)}`` from
        :func:`~mspectmol.explain.importance.group_importance`; one column per modality.
    grids
        ``{modality: (n_points,)}`` ascending x grids.
    groups
        Group names to show, top to bottom (default: all of ``names``).
    path
        Save to this file; None: do not save.
    names
        Names of the rows of ``group_maps``.
    row_normalise
        Scale each row from its minimum (0) to its maximum (1), so the preferred regions of
        every group show whatever its overall level; otherwise one colour scale per modality.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        NaN rows (groups without molecules) are grey.
    """
    if not group_maps:
        raise MspectmolError("no group importance maps to plot")
    chosen = list(names) if groups is None else list(groups)
    unknown = [g for g in chosen if g not in names]
    if unknown:
        raise MspectmolError(f"unknown group(s) {', '.join(unknown)}")
    rows = [list(names).index(g) for g in chosen]
    fig = Figure(figsize=(4.0 * len(group_maps) + 2.2, 0.24 * len(rows) + 1.8),
                 layout="constrained")
    axes = fig.subplots(1, len(group_maps), sharey=True, squeeze=False)[0]
    cmap = matplotlib.colormaps[GROUP_MAP_CMAP].with_extremes(bad="0.85")
    image = None
    for ax, (m, maps) in zip(axes, group_maps.items(), strict=True):
        mod = get_modality(m)
        x = np.asarray(grids[m], dtype=np.float64)
        data = np.asarray(maps, dtype=np.float64)
        if data.ndim != 2 or data.shape != (len(names), x.size):
            raise MspectmolError(f"{m}: group map has shape {data.shape}, expected "
                                 f"({len(names)}, {x.size})")
        data = data[rows]
        if row_normalise:
            data = _row_minmax(data)
        image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap=cmap,
                          interpolation="nearest", extent=(x[0], x[-1], len(rows) - 0.5, -0.5),
                          vmin=0.0, vmax=1.0 if row_normalise else None)
        ax.set_xlim((x[-1], x[0]) if mod.x_decreasing else (x[0], x[-1]))
        ax.set_xlabel(mod.x_label)
        ax.set_title(mod.label, fontsize=10)
        ax.set_label(mod.name)
    axes[0].set_yticks(range(len(rows)), chosen, fontsize=7)
    fig.colorbar(image, ax=list(axes), shrink=0.8,
                 label="importance (row min = 0, max = 1)" if row_normalise else "importance")
    fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig
