"""Interpretability: gate importance maps, per-group attributions, co-errors and figures.

:mod:`~mspectmol.explain.importance` maps a PA-IB model's gate probabilities onto the input
grids and finds the spectral regions behind a prediction; :mod:`~mspectmol.explain.coerror`
counts functional groups that are mispredicted together (the paper's appendix P);
:mod:`~mspectmol.explain.plots` and :mod:`~mspectmol.explain.molecule` draw spectra with their
importance, the predicted groups and the molecule with those groups highlighted;
:mod:`~mspectmol.explain.onevsall` trains one gated binary model per group on the joined
spectra (appendix O) and :mod:`~mspectmol.explain.report` builds ``docs/interpretability.md``.
Names are imported on first use: computing importance does not load the plotting modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(("coerror_matrix", "plot_coerror", "top_pairs"), "coerror"),
    **dict.fromkeys(("CARBONYL_GROUPS", "GatedOutput", "bands_to_points",
                     "carbonyl_window_fraction", "gate_importance", "group_attribution",
                     "group_importance", "importance_from_gates", "run_with_gates",
                     "top_regions"), "importance"),
    **dict.fromkeys(("draw_molecule", "group_atoms"), "molecule"),
    **dict.fromkeys(("OneVsAllConfig", "train_one_vs_all"), "onevsall"),
    **dict.fromkeys(("plot_group_importance", "plot_spectra_importance", "save_figure"),
                    "plots"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mspectmol.explain' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mspectmol.explain.{_EXPORTS[name]}"), name)
