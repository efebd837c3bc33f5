"""Calibrate a finished training run again, with another prior correction.

The calibration of a run (the prior correction's logit offsets, the temperature and the
per-group thresholds, all fitted on its validation fold) is the last step of
:func:`mspectmol.training.pipeline.run_training`. :func:`recalibrate_run` repeats that step
on a finished run folder with a new ``prior_correction`` (no retraining): it rebuilds the
run's splits and validation fold from its ``config.json`` (the randomised fold too: it is
seeded), refits the calibration, scores validation, test and the transfer file as training
does, and with ``write`` rewrites ``model/`` (same weights), ``metrics.json`` and
``config.json``. ``python scripts/recalibrate.py RUN_DIR --prior-correction S [--write]``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from mspectmol.errors import MspectmolError
from mspectmol.models.io import load_model, save_model
from mspectmol.training.config import TrainConfig, run_config
from mspectmol.training.data_source import load_run_dataset
from mspectmol.training.epochs import with_nmr_corpus
from mspectmol.training.pipeline import (
    fit_calibration,
    randomised_rendering,
    run_splits,
    score_parts,
)
from mspectmol.training.run_folder import write_json

log = logging.getLogger("mspectmol.training")


def recalibrate_run(run_dir: str | os.PathLike[str], prior_correction: float, *,
                    write: bool = False) -> dict[str, Any]:
    """The run's metrics with a new prior correction (see the module docstring).

    Raises
    ------
    MspectmolError
        When the run folder has no finished model or the strength is outside [0, 1].
    """
    run = Path(run_dir)
    if not (run / "model").is_dir():
        raise MspectmolError(f"{run}: no finished model (model/) in this run folder")
    config = dataclasses.replace(run_config(run), prior_correction=float(prior_correction))
    model, meta = load_model(run / "model")
    ds = load_run_dataset(config.modalities, config.n_points, config.data, progress=False)
    parts = run_splits(ds, config)
    if config.render == "randomised":
        _, parts["val"] = randomised_rendering(parts["train"], parts["val"], ds, config)
    if config.nmr_corpus:  # the prior correction counts the corpus' labels, as training did
        _, parts["train"] = with_nmr_corpus(parts["train"], ds, config)
    offsets, temperature, thresholds = fit_calibration(
        model, parts, config, meta.config.get("label_weighting", "none"))
    metrics = score_parts(model, parts, config, ds, offsets, temperature, thresholds)
    if write:
        _write(run, config, model, meta, offsets, temperature, thresholds, metrics)
    return metrics


def _write(run: Path, config: TrainConfig, model: Any, meta: Any, offsets: Any,
           temperature: float | None, thresholds: Any, metrics: dict[str, Any]) -> None:
    meta.temperature = temperature
    meta.thresholds = [float(t) for t in thresholds]
    meta.logit_offsets = None if offsets is None else [float(v) for v in offsets]
    meta.training.pop("prior_correction", None)
    if offsets is not None:
        meta.training["prior_correction"] = config.prior_correction
    save_model(run / "model", model, meta)
    stored = run / "metrics.json"
    previous = json.loads(stored.read_text()) if stored.is_file() else {}
    write_json(stored, {**previous, **metrics})
    settings = json.loads((run / "config.json").read_text())
    settings["prior_correction"] = config.prior_correction
    write_json(run / "config.json", settings)
    log.info("%s: recalibrated with prior correction %g", run, config.prior_correction)
