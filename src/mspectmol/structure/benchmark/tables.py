"""The structure suite's result files: ``results.json``, ``results.csv`` and ``table.md``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.structure.benchmark import drug_rows, prior_rows, qm9_rows, rerank_rows

COLUMNS = ("setting", "method", "spectra", "formula", "n", "top1", "top5", "top10", "valid",
           "tanimoto@1", "tanimoto@10", "n_mces", "mces@1", "mces_score@1", "mces@10",
           "mces_score@10")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if np.isnan(v) else f"{v:.3f}"
    return "-" if v is None else str(v)


def write_tables(out: Path, rows: list[dict[str, Any]], opts: dict[str, Any], n_test: int,
                 seed: int) -> None:
    """Write the rows' :data:`COLUMNS` as ``results.json``/``.csv`` and ``table.md`` (with the
    notes of the row families present) to ``out``."""
    flat = [{c: r.get(c) for c in COLUMNS} for r in rows]
    (out / "results.json").write_text(json.dumps({"options": opts, "seed": seed,
                                                  "rows": flat}, indent=1) + "\n",
                                      encoding="utf-8")
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(flat)

    def present(prefix: str) -> bool:
        return any(r["setting"].startswith(prefix) for r in flat)

    drug_only = bool(flat) and all(r["setting"].startswith(drug_rows.PREFIX) for r in flat)
    title = (f"# Structure elucidation of drug-size molecules (seed {seed})" if drug_only else
             f"# Structure elucidation (scaffold split, {n_test} held-out molecules with "
             f"at most {opts['max_heavy']} heavy atoms, seed {seed})")
    lines = [title, "",
             "Top-k by InChIKey connectivity block (stereo ignored). MCES (myopic-mces, "
             f"threshold 15, invalid = 100) on the first {opts['n_mces']} molecules of each "
             "row. Library search ranks known molecules that include the true one: not "
             "de-novo.", "",
             *([rerank_rows.table_note(opts), ""] if present("rerank") else []),
             *([qm9_rows.table_note(opts), ""] if present("library_qm9") else []),
             *([prior_rows.table_note(opts), ""] if present(prior_rows.PREFIX) else []),
             *([drug_rows.table_note(opts), ""] if present(drug_rows.PREFIX) else []),
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in COLUMNS) + " |" for r in flat]
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
