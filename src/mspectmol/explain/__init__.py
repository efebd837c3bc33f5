"""Interpretability: gate importance maps, per-group attributions, co-errors and figures.

:mod:`~mspectmol.explain.importance` maps a PA-IB model's gate probabilities onto the input
grids and finds the spectral regions behind a prediction; :mod:`~mspectmol.explain.coerror`
counts functional groups that are mispredicted together (the paper's appendix P);
:mod:`~mspectmol.explain.plots` and :mod:`~mspectmol.explain.molecule` draw spectra with their
importance, the predicted groups and the molecule with those groups highlighted;
:mod:`~mspectmol.explain.onevsall` trains one gated binary model per group on the joined
spectra (appendix O) and :mod:`~mspectmol.explain.report` builds ``docs/interpretability.md``.
"""

from mspectmol.explain.coerror import coerror_matrix, plot_coerror, top_pairs
from mspectmol.explain.importance import (
    CARBONYL_GROUPS,
    GatedOutput,
    bands_to_points,
    carbonyl_window_fraction,
    gate_importance,
    group_attribution,
    group_importance,
    importance_from_gates,
    run_with_gates,
    top_regions,
)
from mspectmol.explain.molecule import draw_molecule, group_atoms
from mspectmol.explain.onevsall import OneVsAllConfig, train_one_vs_all
from mspectmol.explain.plots import plot_group_importance, plot_spectra_importance, save_figure

__all__ = [
    "CARBONYL_GROUPS", "GatedOutput", "bands_to_points", "carbonyl_window_fraction",
    "coerror_matrix", "draw_molecule", "gate_importance", "group_atoms", "group_attribution",
    "group_importance", "importance_from_gates", "plot_coerror", "plot_group_importance",
    "plot_spectra_importance", "run_with_gates", "save_figure", "top_pairs", "top_regions",
    "OneVsAllConfig", "train_one_vs_all",
]
