"""Interpretability report: group maps (Figures 5/7), co-errors (Figure 8), chemistry checks.

:func:`run_report` takes a trained PA-IB model (the packaged default unless told otherwise)
and one part of a split of the embedded dataset (the scaffold split's test part by default)
and computes

* the mean gate importance of the molecules containing each group, per spectrum
  (:func:`~mspectmol.explain.importance.group_importance`);
* the co-error matrix of the model's calls at its tuned thresholds (appendix P);
* the carbonyl check: the share of carbonyl-containing molecules whose top IR gate band lies
  in 1650-1850 cm-1 and whose top 13C gate band lies in 160-220 ppm, against the share
  expected by chance (the window's share of the grid's informative range, see
  :func:`informative_mask`) and the same share for the raw spectrum's highest point;
* a chemistry check of every map against textbook windows (:data:`EXPECTED_WINDOWS`): the
  enrichment of a map in a window is the share of its importance inside the window divided
  by the window's share of the grid (1: no preference);
* one-vs-all models (:mod:`mspectmol.explain.onevsall`) and how well each kind of map tells
  co-occurring groups apart (:func:`map_correlations`).

``scripts/interpretability_report.py`` draws the figures and writes the markdown report from
:func:`run_report`'s result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.errors import MspectmolError
from mspectmol.explain.coerror import coerror_matrix, top_pairs
from mspectmol.explain.importance import (
    CARBONYL_GROUPS,
    carbonyl_window_fraction,
    gate_importance,
    group_attribution,
    group_importance,
    run_with_gates,
)

#: 13C window of carbonyl carbons (ppm).
CARBONYL_C13_WINDOW = (160.0, 220.0)
#: Textbook absorption / shift windows (Silverstein, Webster and Kiemle, "Spectrometric
#: Identification of Organic Compounds", 7th ed., IR chapter 2 and 13C chapter 4 tables;
#: Pretsch et al., "Structure Determination of Organic Compounds"). IR in cm-1, NMR in ppm.
_CARBONYL = {"ir": ((1650.0, 1850.0),), "c_nmr": (CARBONYL_C13_WINDOW,)}
EXPECTED_WINDOWS: dict[str, dict[str, tuple[tuple[float, float], ...]]] = {
    **{g: dict(_CARBONYL) for g in CARBONYL_GROUPS},
    "Aldehyde": {"ir": ((1650.0, 1850.0), (2690.0, 2850.0)), "c_nmr": ((185.0, 215.0),),
                 "h_nmr": ((9.0, 10.0),)},
    "Carboxylic acid": {"ir": ((1650.0, 1850.0), (2500.0, 3300.0)), "c_nmr": ((160.0, 185.0),)},
    "Alcohol": {"ir": ((3200.0, 3700.0), (1000.0, 1260.0)), "c_nmr": ((50.0, 90.0),)},
    "Phenol": {"ir": ((3200.0, 3700.0),), "c_nmr": ((145.0, 165.0),)},
    "Amine": {"ir": ((3250.0, 3550.0),), "c_nmr": ((30.0, 65.0),)},
    "Nitrile": {"ir": ((2200.0, 2280.0),), "c_nmr": ((110.0, 125.0),)},
    "Alkyne": {"ir": ((2100.0, 2260.0), (3250.0, 3350.0)), "c_nmr": ((65.0, 95.0),)},
    "Alkene": {"ir": ((1620.0, 1690.0), (3000.0, 3100.0)), "c_nmr": ((100.0, 150.0),),
               "h_nmr": ((4.5, 6.5),)},
    "Arene": {"ir": ((1450.0, 1620.0), (3000.0, 3100.0)), "c_nmr": ((110.0, 160.0),),
              "h_nmr": ((6.5, 8.5),)},
    "Ether": {"ir": ((1000.0, 1300.0),), "c_nmr": ((50.0, 90.0),), "h_nmr": ((3.2, 4.5),)},
    "Alkane": {"ir": ((2850.0, 3000.0),), "c_nmr": ((0.0, 50.0),), "h_nmr": ((0.5, 2.0),)},
}
#: A group's map "draws on" its window when its enrichment there is at least this.
ENRICHED = 1.2
#: Name of the spectra-only reference maps (:func:`difference_maps`) in the result's tables.
REFERENCE = "spectra: pos. - neg."


@dataclass
class ReportInputs:
    """Model, spectra and labels of the molecules analysed."""

    model: Any
    meta: Any
    ids: np.ndarray
    spectra: dict[str, np.ndarray]
    available: dict[str, np.ndarray]
    labels: np.ndarray
    grids: dict[str, np.ndarray]


@dataclass
class SharedAnalysis:
    """Results on the shared-gate model."""

    maps: dict[str, np.ndarray]
    group_maps: dict[str, np.ndarray]
    prob: np.ndarray
    thresholds: np.ndarray
    coerror: np.ndarray
    pairs: list[tuple[str, str, int]]
    gate_stats: dict[str, dict[str, float]]
    attribution: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    attribution_checks: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def load_inputs(model: str | None = None, *, split: str = "scaffold", part: str = "test",
                data: str | None = None, max_molecules: int | None = None,
                dataset: Any = None, seed: int = 0) -> tuple[ReportInputs, Any]:
    """The model and the molecules of ``part`` (all, or ``max_molecules`` drawn at random).

    Returns the inputs and the dataset (for one-vs-all training).
    """
    from mspectmol.models.datasets import dataset_for
    from mspectmol.models.inference import find_model, is_neural, model_grid
    from mspectmol.models.io import load_model

    net, meta = load_model(find_model(model))
    if not is_neural(net):
        raise MspectmolError(f"{meta.model_name} is a classical model: it has no gates")
    ds = dataset if dataset is not None else dataset_for(meta, data)
    rows = ds.split_indices(split, part)
    if rows.size == 0:
        raise MspectmolError(f"the {split} split has no {part} molecules")
    if max_molecules is not None and rows.size > max_molecules:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_molecules, replace=False))
    mods = (meta.primary, *meta.auxiliary)
    spectra = {m: np.asarray(ds.spectra[m][rows], dtype=np.float32) for m in mods}
    available = {m: np.ones(rows.size, dtype=bool) for m in mods}
    grids = {m: model_grid(meta, m) for m in mods}
    return ReportInputs(net, meta, np.asarray(ds.ids)[rows], spectra, available,
                        np.asarray(ds.labels[rows]), grids), ds


def shared_analysis(inputs: ReportInputs, groups: Sequence[str] = ()) -> SharedAnalysis:
    """Gate maps, group maps, calibrated probabilities and co-errors of the shared model;
    for ``groups`` also the per-group attribution (gate x |gradient x input|) averaged over
    each group's positives."""
    from mspectmol.models.inference import model_thresholds, probabilities

    maps = gate_importance(inputs.model, inputs.spectra, inputs.available)
    gated = run_with_gates(inputs.model, inputs.spectra, inputs.available)
    prob = probabilities(gated.logits, inputs.meta.temperature,
                         inputs.meta.logit_offsets)
    thresholds = model_thresholds(inputs.meta)
    matrix = coerror_matrix(inputs.labels, prob, threshold=thresholds)
    out = SharedAnalysis(maps, group_importance(maps, inputs.labels), prob, thresholds, matrix,
                         top_pairs(matrix, GROUP_NAMES, k=10), gate_statistics(gated))
    for g in groups:
        pos = np.flatnonzero(inputs.labels[:, GROUP_NAMES.index(g)])
        if pos.size == 0:
            continue
        attr = group_attribution(inputs.model, {m: x[pos] for m, x in inputs.spectra.items()},
                                 GROUP_NAMES.index(g),
                                 {m: a[pos] for m, a in inputs.available.items()},
                                 {m: v[pos] for m, v in maps.items()})
        out.attribution[g] = {m: np.nanmean(v, axis=0) for m, v in attr.items()}
        if g in CARBONYL_GROUPS:
            out.attribution_checks[g] = {
                m: window_check(attr[m], inputs.spectra[m][pos], inputs.grids[m],
                                inputs.labels[pos], w, [GROUP_NAMES.index(g)])
                for m, w in (("ir", _CARBONYL["ir"][0]), ("c_nmr", CARBONYL_C13_WINDOW))
                if m in attr}
    return out


def gate_statistics(gated: Any) -> dict[str, dict[str, float]]:
    """Per modality: 1st percentile, median and maximum keep probability over all molecules
    and bands, and the mean within-molecule range (max - min); a range near 0 means the gate
    is open (or shut) everywhere and its normalised map is flat, i.e. uninformative."""
    out = {}
    for m, p in (gated.gate_probs or {}).items():
        ok = np.asarray(gated.available[m], dtype=bool)
        q = p[ok]
        out[m] = ({"p01": float(np.percentile(q, 1)), "median": float(np.median(q)),
                   "max": float(q.max()), "range": float((q.max(1) - q.min(1)).mean())}
                  if q.size else {k: float("nan") for k in ("p01", "median", "max", "range")})
    return out


def informative_mask(spectra: np.ndarray, *, level: float = 0.05, share: float = 0.01
                     ) -> np.ndarray:
    """Grid points where at least ``share`` of the spectra exceed ``level`` (of their max 1).

    The grid's "informative range": points where (almost) no molecule has signal cannot hold
    a top band of the raw spectrum, and a chance level over the whole grid would flatter any
    map that avoids the empty ends.
    """
    x = np.asarray(spectra, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise MspectmolError(f"spectra must be a non-empty (n, n_points) array, got {x.shape}")
    return (x > level).mean(axis=0) >= share


def in_windows(grid: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """Boolean mask of the grid points inside any of the windows (inclusive)."""
    x = np.asarray(grid, dtype=np.float64)
    mask = np.zeros(x.shape, dtype=bool)
    for lo, hi in windows:
        mask |= (x >= lo) & (x <= hi)
    return mask


def window_enrichment(importance: np.ndarray, grid: np.ndarray,
                      windows: Sequence[tuple[float, float]]) -> float:
    """Share of a map's importance inside ``windows`` over the windows' share of the grid
    (1: no preference; NaN for an all-NaN or zero map, or windows off the grid)."""
    imp = np.nan_to_num(np.asarray(importance, dtype=np.float64), nan=0.0)
    mask = in_windows(grid, windows)
    if imp.shape != mask.shape:
        raise MspectmolError(f"importance {imp.shape} and grid {mask.shape} differ in shape")
    if imp.sum() <= 0 or not mask.any():
        return float("nan")
    return float(imp[mask].sum() / imp.sum() / mask.mean())


def window_check(maps: np.ndarray, spectra: np.ndarray, grid: np.ndarray, labels: np.ndarray,
                 window: tuple[float, float], group_indices: Sequence[int] | None = None
                 ) -> dict[str, float]:
    """Carbonyl-style check on one spectrum type.

    Returns the share of the selected molecules (default: any carbonyl group) whose top gate
    band is in ``window`` (``gate``), the same for the raw spectrum's highest point
    (``raw_peak``), the chance level over the informative range (``chance``) and over the
    whole grid (``chance_grid``), and the molecule count ``n``.
    """
    gate = carbonyl_window_fraction(maps, grid, labels, group_indices, window=window)
    raw = carbonyl_window_fraction(spectra, grid, labels, group_indices, window=window)
    informative = informative_mask(spectra)
    inside = in_windows(grid, [window])
    return {"gate": gate.fraction, "gate_hits": gate.hits, "n": gate.total,
            "raw_peak": raw.fraction, "raw_hits": raw.hits,
            "chance": float((inside & informative).sum() / max(informative.sum(), 1)),
            "chance_grid": float(inside.mean())}


def carbonyl_checks(inputs: ReportInputs, maps: Mapping[str, np.ndarray]
                    ) -> dict[str, dict[str, float]]:
    """:func:`window_check` for IR (1650-1850 cm-1) and 13C (160-220 ppm) where present."""
    out = {}
    windows = {"ir": _CARBONYL["ir"][0], "c_nmr": CARBONYL_C13_WINDOW}
    for m, window in windows.items():
        if m in maps:
            out[m] = window_check(maps[m], inputs.spectra[m], inputs.grids[m], inputs.labels,
                                  window)
    return out


def chemistry_table(group_maps: Mapping[str, Mapping[str, np.ndarray]],
                    grids: Mapping[str, np.ndarray], counts: Mapping[str, int]
                    ) -> list[dict[str, Any]]:
    """Enrichment of each kind of map in each group's expected windows.

    Parameters
    ----------
    group_maps
        ``{kind: {group: {modality: (n_points,)}}}``-like: ``group_maps[kind][group][m]``.
    grids
        ``{modality: grid}``.
    counts
        Positives per group (rows are listed for groups with at least one).
    """
    rows = []
    for g, expected in EXPECTED_WINDOWS.items():
        if counts.get(g, 0) < 1:
            continue
        for m, windows in expected.items():
            if m not in grids:
                continue
            row: dict[str, Any] = {"group": g, "modality": m, "windows": windows,
                                   "n": counts[g]}
            for kind, by_group in group_maps.items():
                maps = by_group.get(g)
                row[kind] = (window_enrichment(maps[m], grids[m], windows)
                             if maps is not None and m in maps else float("nan"))
                if kind == REFERENCE and maps is not None and np.nanmax(maps[m]) > 0:
                    row["reference_top"] = float(grids[m][int(np.nanargmax(maps[m]))])
            rows.append(row)
    return rows


def difference_maps(spectra: Mapping[str, np.ndarray], labels: np.ndarray,
                    groups: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """Reference maps from the spectra alone: mean spectrum of a group's positives minus that
    of its negatives, clipped at 0 (where the simulated spectra put the group's own signal)."""
    y = np.asarray(labels, dtype=bool)
    out = {}
    for g in groups:
        col = y[:, GROUP_NAMES.index(g)]
        if col.any() and not col.all():
            out[g] = {m: np.clip(x[col].mean(0) - x[~col].mean(0), 0, None).astype(np.float64)
                      for m, x in spectra.items()}
    return out


def concatenated(group_map: Mapping[str, np.ndarray], modalities: Sequence[str]) -> np.ndarray:
    """One vector of a group's maps over ``modalities``, each part rescaled to sum 1."""
    parts = []
    for m in modalities:
        v = np.nan_to_num(np.asarray(group_map[m], dtype=np.float64), nan=0.0)
        parts.append(v / v.sum() if v.sum() > 0 else v)
    return np.concatenate(parts)


def map_correlations(group_maps: Mapping[str, Mapping[str, np.ndarray]], groups: Sequence[str],
                     modalities: Sequence[str]) -> np.ndarray:
    """Pearson correlation between the groups' maps (``(k, k)``; NaN for a missing group).

    Lower off-diagonal values mean the maps tell the groups apart better.
    """
    vecs = [concatenated(group_maps[g], modalities) if g in group_maps else None for g in groups]
    k = len(groups)
    out = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            a, b = vecs[i], vecs[j]
            if a is not None and b is not None and a.std() > 0 and b.std() > 0:
                out[i, j] = float(np.corrcoef(a, b)[0, 1])
    return out


def rows_of(group_maps: Mapping[str, np.ndarray], groups: Sequence[str]
            ) -> dict[str, dict[str, np.ndarray]]:
    """``{group: {modality: map}}`` from ``{modality: (n_groups, n_points)}`` group maps."""
    return {g: {m: v[GROUP_NAMES.index(g)] for m, v in group_maps.items()} for g in groups}


def mean_offdiagonal(matrix: np.ndarray) -> float:
    """Mean of the finite off-diagonal entries (NaN when none)."""
    m = np.asarray(matrix, dtype=np.float64)
    vals = m[~np.eye(m.shape[0], dtype=bool)]
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else float("nan")


@dataclass
class ReportResult:
    """Everything :func:`run_report` measured (see the module docstring)."""

    inputs: ReportInputs
    shared: SharedAnalysis
    carbonyl: dict[str, dict[str, float]]
    onevsall: dict[str, Any]
    ova_carbonyl: dict[str, dict[str, dict[str, float]]]
    chemistry: list[dict[str, Any]]
    correlations: dict[str, np.ndarray]
    groups: tuple[str, ...]
    seconds: dict[str, float]


def ova_window_checks(result: Any, dataset: Any, split: str, part: str
                      ) -> dict[str, dict[str, float]]:
    """Carbonyl check of each carbonyl group's one-vs-all model on its own positives."""
    from mspectmol.explain.onevsall import concatenated_maps

    rows = dataset.split_indices(split, part)
    out = {}
    for g, gm in result.models.items():
        if g not in CARBONYL_GROUPS:
            continue
        col = GROUP_NAMES.index(g)
        spectra = {m: np.asarray(dataset.spectra[m][rows], np.float32)
                   for m in gm.model.config.modalities}
        labels = np.asarray(dataset.labels[rows])
        pos = np.flatnonzero(labels[:, col])
        if pos.size == 0:
            continue
        maps = concatenated_maps(gm.model, {m: x[pos] for m, x in spectra.items()})
        out[g] = {m: window_check(maps[m], spectra[m][pos], dataset.grids[m], labels[pos],
                                  window, [col])
                  for m, window in (("ir", _CARBONYL["ir"][0]), ("c_nmr", CARBONYL_C13_WINDOW))
                  if m in maps}
    return out


def run_report(*, model: str | None = None, split: str = "scaffold", part: str = "test",
               groups: Sequence[str] | None = None, ova_configs: Mapping[str, Any] | None = None,
               max_molecules: int | None = None, max_train: int | None = None,
               dataset: Any = None, log: Any = None) -> ReportResult:
    """Run every analysis of the module docstring.

    Parameters
    ----------
    model
        Model path or packaged name (None: the default model).
    split, part
        Molecules analysed (the model should not have trained on them).
    groups
        Groups of the one-vs-all models (default
        :data:`~mspectmol.explain.onevsall.DEFAULT_GROUPS`).
    ova_configs
        ``{label: OneVsAllConfig}``: one set of one-vs-all models per entry (e.g. two KL
        weights); the first is the one whose maps are drawn. Empty: no one-vs-all models.
    max_molecules, max_train
        Subsample the analysed part / the one-vs-all training part (quick runs; the
        one-vs-all maps always average over the whole part).
    dataset
        An already loaded dataset (None: the model's dataset).
    log
        Optional callable for progress lines.
    """
    import time

    from mspectmol.explain.onevsall import DEFAULT_GROUPS, OneVsAllConfig, train_one_vs_all

    say = log or (lambda _msg: None)
    groups = tuple(DEFAULT_GROUPS if groups is None else groups)
    configs = {"kl": OneVsAllConfig()} if ova_configs is None else dict(ova_configs)
    seconds = {}
    t0 = time.perf_counter()
    inputs, ds = load_inputs(model, split=split, part=part, max_molecules=max_molecules,
                             dataset=dataset)
    positives = inputs.labels.sum(axis=0)
    shared = shared_analysis(inputs, [g for g, c in zip(GROUP_NAMES, positives, strict=True)
                                      if c > 0])
    seconds["shared"] = time.perf_counter() - t0
    say(f"shared-gate analysis of {inputs.labels.shape[0]} molecules: {seconds['shared']:.0f} s")
    ova, ova_checks = {}, {}
    for label, cfg in configs.items():
        t0 = time.perf_counter()
        ova[label] = train_one_vs_all(ds, groups, split=split, explain_part=part, config=cfg,
                                      max_train=max_train, log=say)
        ova_checks[label] = ova_window_checks(ova[label], ds, split, part)
        seconds[f"onevsall {label}"] = time.perf_counter() - t0
        say(f"one-vs-all models ({label}): {seconds[f'onevsall {label}']:.0f} s")
    counts = {g: int(c) for g, c in zip(GROUP_NAMES, inputs.labels.sum(axis=0), strict=True)}
    kinds = {REFERENCE: difference_maps(inputs.spectra, inputs.labels, GROUP_NAMES),
             "shared gate": rows_of(shared.group_maps, GROUP_NAMES),
             "shared gate x grad": shared.attribution}
    for label, res in ova.items():
        kinds[f"one-vs-all gate ({label})"] = res.gate_maps
        kinds[f"one-vs-all gate x grad ({label})"] = res.attribution_maps
    mods = tuple(inputs.grids)
    present = tuple(g for g in groups if counts.get(g, 0) > 0)
    correlations = {k: map_correlations(v, present, mods) for k, v in kinds.items()}
    return ReportResult(inputs, shared, carbonyl_checks(inputs, shared.maps), ova, ova_checks,
                        chemistry_table(kinds, inputs.grids, counts), correlations, present,
                        seconds)
