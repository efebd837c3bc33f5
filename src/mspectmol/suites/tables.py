"""Benchmark tables: rows rendered as Markdown (``table.md``), CSV and JSON.

The tables follow the layout of Tables 1, 4 and 12 of the paper: one line per spectrum
configuration (the primary modality in bold), one column per model, each cell the mean
(standard deviation over seeds, ``ddof=1``) of a test metric, the best value of a line in
bold and the second best underlined (cells: :mod:`mspectmol.suites.cells`).

Models without modality roles (every baseline) are trained once per modality *set*; their
cell is the same on every line with that set, as in the paper, where the three 3-modality
lines share the baselines' numbers. Role-aware models (PA-IB) are matched on the primary
modality as well. A line with a test ``condition`` shows the rows' metrics under it
(``row["conditions"][name]``; robustness suites, one line per configuration and condition).
Columns may be model variants (their rows carry a ``title``); rows with a ``cost`` entry
(the ``modalities`` suite) add the tables of :mod:`mspectmol.suites.study` (cost by number
of modalities, heavy-atom bins); rows scored on a transfer validation set add a table of
the in-domain test beside the transfer scores (:func:`transfer_table`). Rows themselves are
made and stored by :mod:`mspectmol.suites.rows`.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.suites.cells import (
    TableLine,
    format_cell,
    matching_rows,
    mean_std,
    model_title,
    ranks,
)
from mspectmol.suites.conditions import condition_value, flat_conditions
from mspectmol.suites.configurations import MODALITY_TEXT
from mspectmol.suites.rows import ROW_FIELDS, TRANSFER_FIELDS
from mspectmol.suites.study import (
    bin_time_table,
    flat_cost,
    modality_cost_table,
    split_comparison_table,
)

#: Test metrics a table can show, with their titles.
METRICS: dict[str, str] = {
    "micro_f1": "micro-F1", "macro_f1": "macro-F1", "exact_match": "exact-match accuracy",
    "fgsim": "mean FGSim",
}


def results_table(rows: Sequence[Mapping[str, Any]], lines: Sequence[TableLine],
                  models: Sequence[str], split: str, metric: str = "micro_f1", *,
                  digits: int = 3, expected: int | None = None,
                  titles: Mapping[str, str] | None = None) -> str:
    """A Markdown table: ``lines`` x ``models``, cells = mean (std) of ``metric`` on ``split``.

    Parameters
    ----------
    rows
        Result rows (see :data:`ROW_FIELDS`).
    lines, models
        Table lines (configurations) and columns (registered model names).
    split
        ``"random"`` or ``"scaffold"``.
    metric
        A row field (e.g. ``micro_f1`` or ``micro_f1_tuned``).
    digits
        Decimal places.
    expected
        Seeds per cell; cells with fewer finished seeds are marked ``†``.
    titles
        Column titles of variants (see :func:`model_title`).
    """
    first = ("Spectrum config.: test condition" if any(li.condition for li in lines)
             else "Spectrum config.")
    header = f"| {first} | " + " | ".join(model_title(m, titles) for m in models) + " |"
    out = [header, "|---|" + "---:|" * len(models)]
    for line in lines:
        values = [[condition_value(r, line.condition, metric)
                   for r in matching_rows(rows, line, m, split)] for m in models]
        stats = [mean_std([v for v in vs if v is not None]) for vs in values]
        marks = ranks([s[0] for s in stats], digits)
        cells = [format_cell(*s, digits=digits, rank=k, expected=expected)
                 for s, k in zip(stats, marks, strict=True)]
        out.append(f"| {line.title} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def has_transfer(row: Mapping[str, Any]) -> bool:
    """Whether a row was scored on a transfer validation set (:data:`TRANSFER_FIELDS`)."""
    return row.get("transfer_micro_f1") not in (None, "")


def transfer_table(rows: Sequence[Mapping[str, Any]], lines: Sequence[TableLine],
                   models: Sequence[str], split: str, suffix: str = "", *, digits: int = 3,
                   expected: int | None = None, titles: Mapping[str, str] | None = None
                   ) -> str:
    """A Markdown table of the in-domain test beside the transfer validation set.

    One line per configuration and model with rows scored on a transfer set (see
    :func:`has_transfer`; lines of test conditions count once per configuration, as the
    test columns are the unperturbed test); columns: test micro- and macro-F1, then transfer
    micro- and macro-F1 with all spectra and with the primary alone. ``suffix``
    ``"_tuned"`` reads the metrics at the tuned thresholds. Best of a column within a
    configuration in bold, second underlined.
    """
    alone = sorted({str(r.get("transfer_alone") or "") for r in rows if has_transfer(r)}
                   - {""})
    what = MODALITY_TEXT.get(alone[0], alone[0]) if len(alone) == 1 else "primary"
    columns = {"micro_f1": "test micro-F1", "macro_f1": "test macro-F1",
               "transfer_micro_f1": "transfer micro-F1 (all spectra)",
               "transfer_macro_f1": "transfer macro-F1 (all spectra)",
               "transfer_alone_micro_f1": f"transfer micro-F1 ({what} alone)",
               "transfer_alone_macro_f1": f"transfer macro-F1 ({what} alone)"}
    out = ["| Spectrum config. | Model | " + " | ".join(columns.values()) + " |",
           "|---|---|" + "---:|" * len(columns)]
    seen = set()
    for line in lines:  # the test conditions of robustness suites do not apply here
        if (line.primary, line.modalities) in seen:
            continue
        seen.add((line.primary, line.modalities))
        title = line.title.rsplit(": ", 1)[0] if line.condition else line.title
        found = [(m, [r for r in matching_rows(rows, line, m, split) if has_transfer(r)])
                 for m in models]
        found = [(m, mine) for m, mine in found if mine]
        stats = [[mean_std([r[f + suffix] for r in mine if r.get(f + suffix) is not None])
                  for f in columns] for _, mine in found]
        marks = [ranks([s[i][0] for s in stats], digits) for i in range(len(columns))]
        for j, (m, _) in enumerate(found):
            cells = [format_cell(*stats[j][i], digits=digits, rank=marks[i][j],
                                 expected=expected) for i in range(len(columns))]
            out.append(f"| {title} | {model_title(m, titles)} | " + " | ".join(cells)
                       + " |")
    return "\n".join(out)


def _device(row: Mapping[str, Any]) -> str:
    settings = row.get("settings")
    return str(settings.get("device", "cpu")) if isinstance(settings, Mapping) else "cpu"


def cost_table(rows: Sequence[Mapping[str, Any]], models: Sequence[str],
               titles: Mapping[str, str] | None = None) -> str:
    """Markdown table of training cost per model and device: runs, mean/total train time,
    epochs, size (a model trained on several devices gets a line for each)."""
    out = ["| Model | Device | Runs | Mean train time (s) | Total (h) | Mean epochs | "
           "Parameters |", "|---|---|---:|---:|---:|---:|---:|"]
    for m in models:
        mine = [r for r in rows if r["model"] == m]
        if not mine:
            out.append(f"| {model_title(m, titles)} | – | 0 | – | – | – | – |")
            continue
        for device in sorted({_device(r) for r in mine}):
            part = [r for r in mine if _device(r) == device]
            secs = [float(r["train_seconds"]) for r in part]
            params = sorted({int(r["parameters"]) for r in part})
            size = (f"{params[0]:,}" if len(params) == 1 else f"{params[0]:,}–{params[-1]:,}")
            epochs = np.mean([float(r["epochs"]) for r in part])
            out.append(f"| {model_title(m, titles)} | {device} | {len(part)} | "
                       f"{np.mean(secs):.1f} | {sum(secs) / 3600:.2f} | {epochs:.1f} | {size} |")
    return "\n".join(out)


def settings_list(settings: Mapping[str, Any]) -> str:
    """Markdown bullet list ``- key: value`` (mappings and lists as compact JSON)."""
    items = []
    for key, value in settings.items():
        if isinstance(value, (Mapping, list, tuple)):
            value = json.dumps(value, sort_keys=isinstance(value, Mapping), default=str)
        items.append(f"- {key}: {value}")
    return "\n".join(items)


def render_markdown(rows: Sequence[Mapping[str, Any]], *, title: str,
                    lines: Sequence[TableLine], models: Sequence[str],
                    splits: Sequence[str], settings: Mapping[str, Any],
                    metrics: Sequence[str] = ("micro_f1", "macro_f1"),
                    threshold: str = "0.5", expected: int | None = None,
                    notes: Sequence[str] = (), titles: Mapping[str, str] | None = None
                    ) -> str:
    """The whole ``table.md``: settings, one table per split and metric, the cost table.

    ``threshold`` ``"0.5"`` shows the metrics at threshold 0.5, ``"tuned"`` those at the
    per-group thresholds tuned on the validation split. ``titles`` name variant columns
    (default: the ``title`` of their rows). Rows with a ``cost`` entry add the cost by
    number of modalities per split and the heavy-atom bin times; the ``size`` split next to
    another adds their side-by-side table (Table 11); rows scored on a transfer validation
    set add :func:`transfer_table` for each split.
    """
    titles = {**{str(r["model"]): str(r["title"]) for r in rows if r.get("title")},
              **(titles or {})}
    if threshold not in ("0.5", "tuned"):
        raise MspectmolError(f"threshold must be '0.5' or 'tuned', got {threshold!r}")
    suffix = "" if threshold == "0.5" else "_tuned"
    where = ("threshold 0.5" if threshold == "0.5"
             else "per-group thresholds tuned on the validation split")
    parts = [f"# {title}", "", "## Settings", "", settings_list(settings), ""]
    parts += [f"Cells: mean (standard deviation over seeds) of the test metric at {where}; "
              "best of a line in **bold**, second <u>underlined</u>; † fewer seeds than planned "
              "finished; – not run. Role-free models are trained once per modality set and "
              "repeat on every line with that set.", ""]
    parts += [f"- {n}" for n in notes] + ([""] if notes else [])
    for split in splits:
        for metric in metrics:
            parts += [f"## {split.capitalize()} split: test {METRICS.get(metric, metric)}", "",
                      results_table(rows, lines, models, split, metric + suffix,
                                    expected=expected, titles=titles), ""]
    if any(has_transfer(r) for r in rows):
        for split in splits:
            parts += [f"## {split.capitalize()} split: in-domain test and transfer validation "
                      f"set (metrics at {where})", "",
                      transfer_table(rows, lines, models, split, suffix, expected=expected,
                                     titles=titles), ""]
    if "size" in splits and len(splits) > 1:
        order = ["size", *(s for s in splits if s != "size")]
        parts += [f"## Stress test: test micro-F1 on the largest molecules and on the "
                  f"{order[1]} split", "",
                  split_comparison_table(rows, lines, models, order, "micro_f1" + suffix,
                                         titles), ""]
    if any(isinstance(r.get("cost"), Mapping) for r in rows):
        for split in splits:
            parts += [f"## {split.capitalize()} split: cost and test micro-F1 by number of "
                      "modalities", "", modality_cost_table(rows, models, split, titles), ""]
        parts += ["## Training time by heavy-atom count (one epoch, equal molecules per bin)",
                  "", bin_time_table(rows, models, titles), ""]
    parts += ["## Training cost (all splits and seeds)", "", cost_table(rows, models, titles),
              ""]
    return "\n".join(parts)


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    return value


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` with the columns :data:`ROW_FIELDS` (missing values empty).

    Rows scored on a transfer set add :data:`~mspectmol.suites.rows.TRANSFER_FIELDS` after
    those; rows with test conditions then add a column ``<condition>:<metric>`` for each of
    their condition metrics; rows with a ``cost`` add ``cost:<measure>`` and
    ``cost:bin:<low-high>:<measure>`` columns.
    """
    p = Path(path)
    flat = [{**row, **flat_conditions(row), **flat_cost(row)} for row in rows]
    extra = list(dict.fromkeys(k for row in rows for k in (*flat_conditions(row),
                                                           *flat_cost(row))))
    transfer = TRANSFER_FIELDS if any(has_transfer(r) for r in rows) else ()
    fields = (*ROW_FIELDS, *transfer, *extra)
    with p.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in flat:
            writer.writerow({k: _csv_value(row.get(k, "")) for k in fields})
    return p


def write_rows_json(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` (all their fields, including nested settings) as a JSON list."""
    p = Path(path)
    p.write_text(json.dumps(list(rows), indent=1, default=str) + "\n", encoding="utf-8")
    return p


def write_outputs(out: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]],
                  markdown: str) -> dict[str, Path]:
    """Write ``results.csv`` and ``results.json`` (``rows``) and ``table.md``."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows, key=lambda r: str(r.get("key")))
    table = root / "table.md"
    table.write_text(markdown, encoding="utf-8")
    return {"csv": write_csv(ordered, root / "results.csv"),
            "json": write_rows_json(ordered, root / "results.json"), "table": table}
