"""Benchmark result rows: made from finished runs, stored one file per run and loaded; the
expected run times and balanced shards that plan a run are computed from them.

A *row* is the dict :func:`result_row` makes of one finished training run (see
:data:`ROW_FIELDS`); :func:`write_row` stores it as ``runs/<key>.json`` and :func:`load_rows`
reads them back. :mod:`mspectmol.suites.tables` renders rows as tables.

This module imports neither torch nor the training code.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_write

#: Columns of ``results.csv`` (one row per finished run), in order.
ROW_FIELDS: tuple[str, ...] = (
    "suite", "model", "config", "primary", "modalities", "role_aware", "split", "seed",
    "micro_f1", "macro_f1", "exact_match", "fgsim",
    "micro_f1_tuned", "macro_f1_tuned", "exact_match_tuned", "fgsim_tuned",
    "val_micro_f1", "epochs", "best_epoch", "train_seconds", "n_train", "n_val", "n_test",
    "parameters", "settings_hash", "dataset", "key", "run_dir", "finished",
)
#: Columns of a run scored on a transfer validation set (``metrics["transfer"]``, training's
#: ``transfer`` setting): micro-F1 and macro-F1 (:func:`present_macro_f1`, over the groups
#: the set has) with all the run's spectra and with its primary alone (the others passed as
#: missing; ``transfer_alone`` names that modality, empty for a single-modality run), at
#: threshold 0.5 and at the thresholds tuned on validation, and the number of transfer
#: molecules. ``results.csv`` adds them after :data:`ROW_FIELDS` only when some row has
#: them, so the tables of runs without a transfer set keep their columns.
TRANSFER_FIELDS: tuple[str, ...] = (
    "transfer_micro_f1", "transfer_macro_f1", "transfer_alone_micro_f1",
    "transfer_alone_macro_f1", "transfer_micro_f1_tuned", "transfer_macro_f1_tuned",
    "transfer_alone_micro_f1_tuned", "transfer_alone_macro_f1_tuned", "transfer_alone",
    "transfer_n",
)
ALONE = " alone"


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def count_parameters(model: Any) -> int:
    """Trainable numbers of a model: tensor elements, or a classical model's state arrays."""
    if hasattr(model, "parameters") and callable(model.parameters):
        return int(sum(p.numel() for p in model.parameters()))
    _, arrays = model.to_state()
    return int(sum(getattr(a, "size", 0) for a in arrays.values()))


def transfer_fields(transfer: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :data:`TRANSFER_FIELDS` of a run's ``metrics["transfer"]`` (empty without one).

    ``transfer`` maps ``"all spectra"`` and ``"<primary> alone"`` to evaluation reports with
    ``at_0.5`` and ``tuned`` parts (:func:`mspectmol.training.pipeline.transfer_metrics`).
    """
    if not isinstance(transfer, Mapping) or "all spectra" not in transfer:
        return {}
    alone = next((k for k in transfer if str(k).endswith(ALONE)), None)
    out: dict[str, Any] = {"transfer_alone": alone[:-len(ALONE)] if alone else "",
                           "transfer_n": transfer["all spectra"].get("n_samples")}
    for suffix, part in (("", "at_0.5"), ("_tuned", "tuned")):
        for name, key in (("transfer", "all spectra"), ("transfer_alone", alone)):
            report = transfer[key][part] if key is not None else {}
            out[f"{name}_micro_f1{suffix}"] = report.get("micro_f1")
            out[f"{name}_macro_f1{suffix}"] = present_macro_f1(report)
    return {k: out[k] for k in TRANSFER_FIELDS}


def present_macro_f1(report: Mapping[str, Any]) -> float | None:
    """Mean F1 over the groups with positives in the truth, from a report's ``per_label``
    (the transfer check's macro-F1: a small transfer set lacks some of the 37 groups, which
    would otherwise count as 0); None without per-label scores or positives."""
    scores = [float(g["f1"]) for g in report.get("per_label", ()) if int(g["support"]) > 0]
    return sum(scores) / len(scores) if scores else None


def result_row(identity: Mapping[str, Any], result: Any, *, key: str, settings_hash: str,
               dataset: str, out: str | os.PathLike[str]) -> dict[str, Any]:
    """The row of a finished run.

    Parameters
    ----------
    identity
        ``suite, model, config, primary, modalities, role_aware, split, seed``.
    result
        The :class:`~mspectmol.training.pipeline.RunResult`; with a transfer set in its
        metrics the row gets :data:`TRANSFER_FIELDS` (:func:`transfer_fields`).
    key, settings_hash, dataset
        The run key, its settings hash and the dataset fingerprint.
    out
        The benchmark folder (``run_dir`` is stored relative to it).
    """
    test, training = result.metrics["test"], result.metrics["training"]
    row: dict[str, Any] = dict(identity)
    for suffix, part in (("", "at_0.5"), ("_tuned", "tuned")):
        report = test[part]
        row.update({f"micro_f1{suffix}": report["micro_f1"],
                    f"macro_f1{suffix}": report["macro_f1"],
                    f"exact_match{suffix}": report["subset_accuracy"],
                    f"fgsim{suffix}": report["fgsim_mean"]})
    row.update({
        "val_micro_f1": training["best_val_micro_f1"], "epochs": training["epochs_run"],
        "best_epoch": training["best_epoch"], "train_seconds": training["seconds"],
        "n_train": result.meta.training["n_train"], "n_val": result.meta.training["n_val"],
        "n_test": test["n_samples"], "parameters": count_parameters(result.train.model),
        "settings_hash": settings_hash, "dataset": dataset, "key": key,
        "run_dir": os.path.relpath(result.run_dir, out),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    row.update(transfer_fields(result.metrics.get("transfer")))
    return {k: _finite(v) for k, v in row.items()}


def write_row(folder: str | os.PathLike[str], row: Mapping[str, Any],
              settings: Mapping[str, Any]) -> Path:
    """Write ``<folder>/<key>.json`` atomically: the row plus the run's full settings."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{row['key']}.json"
    atomic_write(path, (json.dumps({**row, "settings": settings}, indent=1, default=str)
                        + "\n").encode("utf-8"))
    return path


def load_rows(folder: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Finished rows of a ``runs/`` folder by key (empty when the folder does not exist).

    Raises
    ------
    MspectmolError
        For a row file that is not valid JSON or not the row of its key, naming the file.
    """
    rows = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MspectmolError(f"{path}: unreadable benchmark row ({exc}); delete it to "
                                 "rerun that run") from None
        if not isinstance(row, dict) or row.get("key") != path.stem:
            raise MspectmolError(f"{path}: not the benchmark row of key {path.stem!r}; "
                                 "delete it to rerun that run")
        rows[path.stem] = row
    return rows


def estimate_each(todo: Sequence[tuple[str, int]], rows: Sequence[Mapping[str, Any]]
                  ) -> list[float | None]:
    """Expected train seconds of each run ``(model, number of modalities)``, None if unknown.

    Uses the mean time of finished rows with the same model and number of modalities, else of
    the same model scaled by the number of modalities.
    """
    out: list[float | None] = []
    for model, k in todo:
        same = [(float(r["train_seconds"]), len(str(r["modalities"]).split("+")))
                for r in rows if r.get("model") == model]
        exact = [s for s, n in same if n == k]
        if exact:
            out.append(sum(exact) / len(exact))
        elif same:
            out.append(sum(s * k / n for s, n in same) / len(same))
        else:
            out.append(None)
    return out


def estimate_seconds(todo: Sequence[tuple[str, int]], rows: Sequence[Mapping[str, Any]]
                     ) -> tuple[float, int]:
    """Total expected train seconds of runs ``(model, number of modalities)`` (see
    :func:`estimate_each`) and the number of runs with nothing to go by."""
    each = estimate_each(todo, rows)
    return sum(e for e in each if e is not None), sum(e is None for e in each)


def balanced_shard(costs: Sequence[float | None], index: int, n: int) -> list[int]:
    """Positions of the runs that shard ``index`` (1-based) of ``n`` trains.

    Longest expected run first, each to the shard with the least expected work so far (ties:
    the shard with fewer runs, then the lower shard), so the shards finish together; runs
    without an estimate count as the mean of the known ones (all equal when none is known or
    every known one took 0 s, which gives a round robin). The
    result depends only on ``costs``, so every shard computed from the same finished runs
    gets a disjoint part and together they cover every run. A shard's runs are returned
    longest first.
    """
    known = [c for c in costs if c is not None]
    fill = sum(known) / len(known) if known and sum(known) > 0 else 1.0
    filled = [fill if c is None else float(c) for c in costs]
    order = sorted(range(len(costs)), key=lambda i: (-filled[i], i))
    load = [0.0] * n
    runs = [0] * n
    mine: list[int] = []
    for i in order:
        target = min(range(n), key=lambda s: (load[s], runs[s], s))
        load[target] += filled[i]
        runs[target] += 1
        if target == index - 1:
            mine.append(i)
    return mine


def current_rows(rows: Iterable[Mapping[str, Any]], suite: str, hashes: Mapping[str, str]
                 ) -> list[Mapping[str, Any]]:
    """Rows of ``suite`` whose settings hash is the current one of their model."""
    return [r for r in rows if r.get("suite") == suite
            and hashes.get(r.get("model")) == r.get("settings_hash")]
