"""Tables and figures of the study suites (augment, stress, ablation, modalities).

- :func:`modality_cost_table` (Tables 6 and 7) and :func:`bin_time_table` (Table 9) from the
  ``cost`` entry of rows (:func:`mspectmol.suites.cost.run_cost`);
  :func:`flat_cost` makes it CSV columns.
- :func:`split_comparison_table` (Table 11): the size split next to another split.
- :func:`write_figure` / :func:`write_suite_figures`: bar charts of variant suites (Figs. 10a
  and 11), one panel per variant group, written next to ``table.md``.

Matplotlib is imported only to draw.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.suites.cells import format_cell, matching_rows, mean_std, model_title
from mspectmol.suites.conditions import condition_value
from mspectmol.suites.configurations import set_label
from mspectmol.suites.variants import REFERENCE_GROUP


def write_figure(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]],
                 models: Sequence[str], titles: Mapping[str, str],
                 groups: Mapping[str, str], conditions: Sequence[tuple[str, str]],
                 split: str, metric: str = "micro_f1") -> Path | None:
    """Bar chart of ``metric`` per column, one panel per variant group (Figs. 10a, 11).

    ``conditions`` are ``(name, legend text)`` pairs (``("", "test")`` for the run's own
    test metric); bars show the mean over seeds with the standard deviation as error bar.
    Columns of group :data:`REFERENCE_GROUP` are drawn in every panel as a dashed line (the
    first condition's mean) instead of bars. Returns None (nothing written) when no row of
    ``split`` has a value.
    """
    def values(model: str, condition: str) -> list[float]:
        found = [condition_value(r, condition, metric) for r in rows
                 if r.get("model") == model and r.get("split") == split]
        return [float(v) for v in found if v is not None and math.isfinite(float(v))]

    if not any(values(m, c) for m in models for c, _ in conditions):
        return None
    # matplotlib loads only to draw (it is slow to import), with a backend chosen before
    # pyplot is imported.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    references = [m for m in models if groups.get(m, "") == REFERENCE_GROUP]
    models = [m for m in models if m not in references]
    panels = list(dict.fromkeys(groups.get(m, "") for m in models))
    fig, axes = plt.subplots(1, len(panels), squeeze=False,
                             figsize=(max(4.0, 1.2 * len(models) + 2.0), 3.8),
                             gridspec_kw={"width_ratios": [
                                 sum(groups.get(m, "") == p for m in models) for p in panels]})
    width = 0.8 / len(conditions)
    shown = [np.mean(v) for m in models for c, _ in conditions if (v := values(m, c))]
    shown += [np.mean(v) for r in references if (v := values(r, conditions[0][0]))]
    low = max(0.0, min(shown, default=0.0) - 0.05)
    high = min(1.0, max(shown, default=1.0) + 0.03)
    for ax, panel in zip(axes[0], panels, strict=True):
        mine = [m for m in models if groups.get(m, "") == panel]
        for j, (name, legend) in enumerate(conditions):
            stats = [values(m, name) for m in mine]
            means = [np.mean(v) if v else np.nan for v in stats]
            stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in stats]
            ax.bar(np.arange(len(mine)) + (j - (len(conditions) - 1) / 2) * width, means,
                   width, yerr=stds, capsize=2, label=legend)
        for k, ref in enumerate(references):
            found = values(ref, conditions[0][0])
            if found:
                ax.axhline(float(np.mean(found)), color=f"C{len(conditions) + k}",
                           linestyle="--", linewidth=1, label=titles.get(ref, ref))
        ax.set_xticks(np.arange(len(mine)))
        ax.set_xticklabels([titles.get(m, m) for m in mine], rotation=30, ha="right",
                           fontsize=8)
        ax.set_title(panel or "variants", fontsize=9)
        ax.set_ylim(low, high)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"test {metric.replace('_', '-')} ({split} split)")
    if len(conditions) > 1 or references:
        axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                           borderaxespad=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def flat_cost(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's ``cost`` as CSV columns ``cost:<measure>`` and ``cost:bin:<bin>:<measure>``."""
    cost = row.get("cost")
    if not isinstance(cost, Mapping):
        return {}
    out = {f"cost:{k}": v for k, v in cost.items() if k != "bins"}
    for label, values in (cost.get("bins") or {}).items():
        out.update({f"cost:bin:{label}:{k}": v for k, v in values.items()})
    return out


def _mean(values: Sequence[Any], digits: int) -> str:
    found = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return f"{np.mean(found):,.{digits}f}" if found else "–"


def _groups(rows: Sequence[Mapping[str, Any]], models: Sequence[str], split: str | None
            ) -> list[tuple[str, str, list[Mapping[str, Any]]]]:
    """``(model, modality set, rows)`` of costed rows, by model, then number of modalities."""
    out = []
    for m in models:
        mine = [r for r in rows if r.get("model") == m and isinstance(r.get("cost"), Mapping)
                and (split is None or r.get("split") == split)]
        sets = sorted({str(r["modalities"]) for r in mine},
                      key=lambda s: (len(s.split("+")), s))
        out += [(m, s, [r for r in mine if r["modalities"] == s]) for s in sets]
    return out


def modality_cost_table(rows: Sequence[Mapping[str, Any]], models: Sequence[str], split: str,
                        titles: Mapping[str, str] | None = None) -> str:
    """Markdown Tables 6/7: per model and modality set, size, time, memory and micro-F1.

    Means over the seeds' rows of ``split``; peak RSS is of the whole process (dataset
    included), its increase is what the run added
    (:class:`~mspectmol.suites.cost.ResourceMonitor`).
    """
    out = ["| Model | # Mod. | Spectra | Parameters | Time per epoch (s) | Train time (s) | "
           "Peak RSS (MB) | RSS increase (MB) | Test micro-F1 |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for m, mods, part in _groups(rows, models, split):
        costs = [r["cost"] for r in part]
        f1 = mean_std([r["micro_f1"] for r in part if r.get("micro_f1") is not None])
        out.append(
            f"| {model_title(m, titles)} | {len(mods.split('+'))} | {set_label(mods.split('+'))} "
            f"| {_mean([r['parameters'] for r in part], 0)} "
            f"| {_mean([c.get('seconds_per_epoch') for c in costs], 2)} "
            f"| {_mean([r['train_seconds'] for r in part], 1)} "
            f"| {_mean([c.get('peak_rss_mb') for c in costs], 0)} "
            f"| {_mean([c.get('rss_increase_mb') for c in costs], 0)} | {format_cell(*f1)} |")
    return "\n".join(out)


def bin_time_table(rows: Sequence[Mapping[str, Any]], models: Sequence[str],
                   titles: Mapping[str, str] | None = None) -> str:
    """Markdown Table 9: seconds per 1,000 training molecules of one epoch, per heavy-atom
    bin (columns), per model and modality set (means over splits and seeds)."""
    groups = _groups(rows, models, None)
    bins = list(dict.fromkeys(b for _, _, part in groups for r in part
                              for b in (r["cost"].get("bins") or {})))
    if not bins:
        return "No heavy-atom bin timings (classical models only, or no bins configured)."
    out = ["| Model | Spectra | " + " | ".join(f"{b} heavy atoms (s / 1000 mol.)"
                                              for b in bins) + " | Molecules per bin |",
           "|---|---|" + "---:|" * (len(bins) + 1)]
    for m, mods, part in groups:
        timed = [r["cost"].get("bins") or {} for r in part]
        if not any(timed):
            continue
        cells = [_mean([t[b]["seconds_per_1000"] for t in timed if b in t], 2) for b in bins]
        n = sorted({int(v["molecules"]) for t in timed for v in t.values()})
        out.append(f"| {model_title(m, titles)} | {set_label(mods.split('+'))} | "
                   + " | ".join(cells) + f" | {', '.join(map(str, n))} |")
    return "\n".join(out)


def write_suite_figures(out: str | os.PathLike[str], suite: Any,
                        rows: Sequence[Mapping[str, Any]], models: Sequence[str],
                        splits: Sequence[str]) -> list[Path]:
    """``figure-<split>.png`` of a suite whose variants name groups (Figs. 10a, 11).

    Nothing for other suites; each test condition of the suite is a bar series.
    """
    groups = {k: v.group for k, v in suite.variants.items() if v.group}
    if not groups:
        return []
    titles = {m: (suite.variants[m].title if m in suite.variants else "") or m
              for m in models}
    conditions = ([(c.name, c.title()) for c in suite.conditions] if suite.conditions
                  else [("", "test")])
    written = []
    for split in splits:
        path = write_figure(Path(out) / f"figure-{split}.png", rows, models, titles,
                            {m: groups.get(m, "") for m in models}, conditions, split)
        if path is not None:
            written.append(path)
    return written


def split_comparison_table(rows: Sequence[Mapping[str, Any]], lines: Sequence[Any],
                           models: Sequence[str], splits: Sequence[str],
                           metric: str = "micro_f1",
                           titles: Mapping[str, str] | None = None) -> str:
    """Markdown Table 11: per configuration and model, ``metric`` on each split side by side.

    The first split is the stress split (``size``); the last column is its difference to
    the second split's mean.
    """
    names = {"size": "largest 10% (size split)"}
    out = ["| Spectrum config. | Model | " + " | ".join(
               f"{names.get(s, s + ' split')}" for s in splits) + " | Difference |",
           "|---|---|" + "---:|" * (len(splits) + 1)]
    for line in lines:
        for m in models:
            stats = [mean_std([r[metric] for r in matching_rows(rows, line, m, s)
                               if r.get(metric) is not None]) for s in splits]
            if not any(n for _, _, n in stats):
                continue
            diff = (f"{stats[0][0] - stats[1][0]:+.3f}" if stats[0][2] and stats[1][2]
                    else "–")
            out.append(f"| {line.title} | {model_title(m, titles)} | "
                       + " | ".join(format_cell(*s) for s in stats) + f" | {diff} |")
    return "\n".join(out)
