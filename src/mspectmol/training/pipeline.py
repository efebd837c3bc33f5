"""End-to-end runs: load data, build, fit, calibrate, save, evaluate; and re-evaluation.

:func:`run_training` writes a run folder ``<out>/<YYYYmmdd-HHMMSS>-<model>-<primary>/``::

    config.json    the resolved TrainConfig and the resolved model config
    splits.json    split scheme and the molecule ids of train (as used), val and test
    log.csv        one row per epoch (loss terms, validation micro/macro-F1, time)
    model/         model.safetensors + model.json (see mspectmol.models.io)
    metrics.json   validation and test reports at 0.5 and at the tuned thresholds
    checkpoint/    last.safetensors while a neural run is in progress (removed at the end;
                   see mspectmol.models.checkpoint)

``run_training(config, resume=run_dir)`` continues an interrupted run in its folder from its
checkpoint (or from the start when it has none) and ends as the uninterrupted run would.

With ``config.devices > 1`` :func:`run_training` starts that many processes
(:func:`mspectmol.training.distributed.launch`) and returns rank 0's result; inside a
process group (those, or torchrun's) every rank trains, rank 0 alone writes the run folder,
calibrates, evaluates and saves the model, and the other ranks receive its metrics.

:func:`evaluate_saved` evaluates a saved model (or run folder) on a split of the dataset.
``config.data`` chooses the dataset: the embedded one, a folder of its format, or Alberts et
al. parquet data (:mod:`mspectmol.training.data_source`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.data.batches import MIX_WEIGHTS, SplitData, dataset_hash, split_data
from mspectmol.data.dataset import EmbeddedDataset
from mspectmol.data.nmr_corpus import SOURCE as NMR_CORPUS_SOURCE
from mspectmol.data.rendering import RenderSettings
from mspectmol.data.transfer import transfer_arrays
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.evaluation.calibration import prior_offsets
from mspectmol.models.checkpoint import LAST_NAME
from mspectmol.models.inference import find_model, is_neural, predict_logits
from mspectmol.models.io import ModelMeta, grid_info, load_model, save_model
from mspectmol.models.ood import fit_ood, representations
from mspectmol.models.pa_ib import label_pos_weight
from mspectmol.models.registry import config_to_dict, get_model_spec
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.training import distributed
from mspectmol.training.config import RESUME_SETTINGS, TrainConfig, read_config_file
from mspectmol.training.data_source import check_rendering, load_run_dataset, model_dataset
from mspectmol.training.epochs import mixed_epochs, randomised_rendering, with_nmr_corpus
from mspectmol.training.evaluate import calibrate, evaluate_model
from mspectmol.training.run_folder import make_run_dir, write_json
from mspectmol.training.trainer import TrainResult, fit_model, seed_everything

log = logging.getLogger("mspectmol.training")

PARTS = ("train", "val", "test")
CHECKPOINT_DIR = "checkpoint"


@dataclass
class RunResult:
    """What :func:`run_training` produced."""

    run_dir: Path
    metrics: dict[str, Any]
    train: TrainResult
    meta: ModelMeta


def run_splits(ds: EmbeddedDataset, config: TrainConfig) -> dict[str, SplitData]:
    return {part: split_data(ds, config.modalities, config.split, part,
                             max_n=config.max_train if part == "train" else None,
                             seed=config.seed)
            for part in PARTS}


def logit_offsets(train_labels: np.ndarray, scheme: str, strength: float
                  ) -> np.ndarray | None:
    """The prior correction (``TrainConfig.prior_correction``) of a model trained with the
    label weighting ``scheme``, or None when it is off or the model weighs no labels."""
    if strength <= 0 or scheme == "none":
        return None
    return prior_offsets(label_pos_weight(train_labels, scheme).numpy(), strength)


def fit_calibration(model: Any, parts: dict[str, SplitData], config: TrainConfig,
                    label_weighting: str) -> tuple[np.ndarray | None, float | None, np.ndarray]:
    """The prior correction's offsets, the temperature and the per-group thresholds of a
    trained model, fitted on ``parts["val"]`` (the last step of a training run)."""
    offsets = logit_offsets(parts["train"].labels, label_weighting, config.prior_correction)
    temperature, thresholds = calibrate(
        predict_logits(model, parts["val"], config.eval_batch_size), parts["val"].labels,
        temperature=config.calibrate, offsets=offsets)
    return offsets, temperature, thresholds


def score_parts(model: Any, parts: dict[str, SplitData], config: TrainConfig,
                ds: EmbeddedDataset, offsets: np.ndarray | None, temperature: float | None,
                thresholds: np.ndarray) -> dict[str, Any]:
    """Validation, test and (with ``config.transfer``) transfer scores of a calibrated
    model, as ``metrics.json`` holds them."""
    out = {part: evaluate_model(model, parts[part], thresholds=thresholds,
                                temperature=temperature, offsets=offsets,
                                names=ds.label_names, batch_size=config.eval_batch_size)
           for part in ("val", "test")}
    if config.transfer:
        out["transfer"] = transfer_metrics(model, config, ds, thresholds, temperature, offsets)
    return out


def fit_model_ood(model: Any, train: SplitData, val: SplitData,
                  render_epoch: Any = None, n_rows: int | None = None) -> dict[str, Any]:
    """The out-of-distribution model (:func:`mspectmol.models.ood.fit_ood`) of a trained
    neural model: fitted on the training representations (and one randomised rendering of
    them when training used those) of the first ``n_rows`` training rows (default all: the
    NMR corpus' rows, which lack the primary spectrum, are left out), thresholded on the
    in-domain validation part."""
    rows = np.arange(len(train) if n_rows is None else n_rows)
    train = train.subset(rows)
    reps = [representations(model, train.spectra, train.available)]
    if render_epoch is not None:
        extra = render_epoch(0).subset(rows)
        reps.append(representations(model, extra.spectra, extra.available))
    return fit_ood(np.vstack(reps), representations(model, val.spectra, val.available))


def transfer_metrics(model: Any, config: TrainConfig, ds: EmbeddedDataset,
                     thresholds: np.ndarray, temperature: float | None,
                     offsets: np.ndarray | None = None) -> dict[str, Any]:
    """Scores on ``config.transfer`` (:func:`mspectmol.data.transfer.transfer_arrays`) with
    all the model's spectra and with the primary alone (the others passed as missing)."""
    grids = {m: ds.grids.get(m, canonical_grid(m, config.n_points)) for m in config.modalities}
    ids, labels, spectra, available = transfer_arrays(config.transfer, config.modalities,
                                                      grids)
    full = SplitData(ids, labels, spectra, available)
    alone = SplitData(ids, labels, {m: (x if m == config.primary else np.zeros_like(x))
                                    for m, x in spectra.items()},
                      {m: (a if m == config.primary else np.zeros_like(a))
                       for m, a in available.items()})
    names = ("all spectra", f"{config.primary} alone") if config.auxiliary else ("all spectra",)
    return {name: evaluate_model(model, data, thresholds=thresholds, temperature=temperature,
                                 offsets=offsets, names=ds.label_names,
                                 batch_size=config.eval_batch_size)
            for name, data in zip(names, (full, alone), strict=False)}


def _check_grids(ds: EmbeddedDataset, modalities: tuple[str, ...], n_points: int) -> None:
    for m in modalities:
        if m in ds.grids and ds.grids[m].size != n_points:
            raise MspectmolError(f"the dataset's {m} grid has {ds.grids[m].size} points, the "
                                 f"config asks for {n_points}")


def _resume_checks(run_dir: Path, config: TrainConfig, model_config: dict[str, Any],
                   parts: dict[str, SplitData]) -> Path | None:
    """Check a run folder matches ``config`` and the data; return its checkpoint, if any."""
    if not run_dir.is_dir():
        raise MspectmolError(f"{run_dir}: run folder not found")
    if (run_dir / "metrics.json").is_file():
        raise MspectmolError(f"{run_dir}: the run is complete (metrics.json exists); "
                             "nothing to resume")
    saved = read_config_file(run_dir / "config.json")
    resolved = saved.pop("resolved_model_config", None)
    old = TrainConfig.from_dict(saved, source=run_dir / "config.json").to_dict()
    new = config.to_dict()
    diff = sorted(k for k in {*old, *new} if k not in RESUME_SETTINGS and old[k] != new[k])
    if diff or resolved != model_config:
        what = ", ".join(diff) if diff else "resolved_model_config"
        raise MspectmolError(f"{run_dir / 'config.json'}: the run was made with other "
                             f"settings ({what}); resume it with its own config")
    path = run_dir / "splits.json"
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MspectmolError(f"{path}: cannot read the run's splits ({exc})") from None
    if not isinstance(splits, dict) or any(splits.get(p) != parts[p].ids.tolist()
                                           for p in PARTS):
        raise MspectmolError(f"{run_dir / 'splits.json'}: the dataset's splits differ from "
                             "those of the run")
    checkpoint = run_dir / CHECKPOINT_DIR / LAST_NAME
    if checkpoint.is_file():
        return checkpoint
    log.warning("%s: no checkpoint; training from the first epoch", run_dir)
    return None


def run_training(config: TrainConfig, *, dataset: EmbeddedDataset | None = None,
                 resume: Path | None = None) -> RunResult:
    """Train ``config.model`` and write a run folder (see the module docstring).

    Parameters
    ----------
    config
        The resolved training config (for ``resume``, that of the run:
        :func:`~mspectmol.training.config.run_config`).
    dataset
        An already loaded dataset (default: load ``config.data`` or the packaged one).
    resume
        A run folder to continue instead of starting a new one.

    Raises
    ------
    MspectmolError
        When ``resume`` is complete, or its config, splits or checkpoint do not match.
    ConfigError
        For distributed training of a classical model.
    """
    spec = get_model_spec(config.model)
    if spec.kind != "neural" and (config.devices > 1 or distributed.is_active()):
        raise ConfigError(f"{spec.name} is fitted in one step, not by distributed training; "
                          "train it with devices=1 and without torchrun")
    if config.devices > 1 and not distributed.is_active():
        return distributed.launch(_training_process, config.devices,
                                  (config, dataset, resume), device=config.device)
    check_rendering(config.render, config.data)
    ds = dataset if dataset is not None else load_run_dataset(
        config.modalities, config.n_points, config.data,
        progress=config.progress and distributed.is_main())
    _check_grids(ds, config.modalities, config.n_points)
    parts = run_splits(ds, config)
    corpus = None
    if config.nmr_corpus:
        corpus, parts["train"] = with_nmr_corpus(parts["train"], ds, config)
    seed_everything(config.seed)
    model_config = spec.make_config(config.model_config, primary=config.primary,
                                    auxiliary=config.auxiliary, n_points=config.n_points,
                                    n_labels=ds.labels.shape[1])
    model = spec.build(model_config)
    main = distributed.is_main()
    resume_from = None
    if resume is not None:
        run_dir = Path(resume)
        resolved = json.loads(json.dumps(config_to_dict(model_config)))
        resume_from = _resume_checks(run_dir, config, resolved, parts)
    else:
        run_dir = None
        if main:
            run_dir = make_run_dir(config.out, spec.name, config.primary)
            write_json(run_dir / "config.json", {**config.to_dict(),
                                                 "resolved_model_config":
                                                     config_to_dict(model_config)})
            write_json(run_dir / "splits.json", {"scheme": config.split,
                                                 "max_train": config.max_train,
                                                 **{p: parts[p].ids.tolist() for p in PARTS}})
        run_dir = distributed.broadcast_object(run_dir)
    log.info("run folder %s: %s on %d/%d/%d molecules%s", run_dir, spec.name,
             *(len(parts[p]) for p in PARTS),
             f", {distributed.world_size()} processes" if distributed.is_active() else "")
    render_epoch = None
    clean_val = parts["val"]
    if config.render == "randomised":
        render_epoch, parts["val"] = randomised_rendering(parts["train"], parts["val"], ds,
                                                          config, corpus)
    plain_epoch = render_epoch
    if config.mix > 0:
        render_epoch = mixed_epochs(render_epoch, parts["train"], config)
    result = fit_model(model, parts["train"], parts["val"], config,
                       log_path=run_dir / "log.csv", checkpoint_dir=run_dir / CHECKPOINT_DIR,
                       resume_from=resume_from, render_epoch=render_epoch)
    if not main:
        metrics, meta = distributed.broadcast_object(None)
        return RunResult(run_dir, metrics, result, meta)
    offsets, temperature, thresholds = fit_calibration(
        result.model, parts, config, getattr(model_config, "label_weighting", "none"))
    meta = ModelMeta(
        model_name=spec.name, config=config_to_dict(model_config),
        label_names=tuple(ds.label_names), primary=config.primary,
        auxiliary=config.auxiliary,
        modalities={m: grid_info(m, ds.grids.get(m, canonical_grid(m, config.n_points)))
                    for m in config.modalities},
        normalisation="max", thresholds=[float(t) for t in thresholds],
        temperature=temperature,
        logit_offsets=None if offsets is None else [float(v) for v in offsets],
        data_hash=dataset_hash(parts["train"].ids, parts["train"].labels),
        training={"split": config.split, "seed": config.seed, "n_train": len(parts["train"]),
                  "n_val": len(parts["val"]), **result.summary(),
                  **({"modality_dropout": config.modality_dropout,
                      "missing_modalities": list(config.auxiliary)}
                     if config.modality_dropout > 0 else {}),
                  **({"render": config.render, "render_settings":
                      RenderSettings.from_dict(config.render_settings).to_dict()}
                     if config.render != "none" else {}),
                  **({"mix": config.mix, "mix_weights": list(MIX_WEIGHTS)}
                     if config.mix > 0 else {}),
                  **({"prior_correction": config.prior_correction}
                     if offsets is not None else {}),
                  **({"nmr_corpus": len(corpus), "nmr_corpus_source": NMR_CORPUS_SOURCE}
                     if corpus is not None else {})},
    )
    if is_neural(result.model):
        n_data = len(parts["train"]) - (len(corpus) if corpus is not None else 0)
        meta.ood = fit_model_ood(result.model, parts["train"], clean_val, plain_epoch, n_data)
    save_model(run_dir / "model", result.model, meta)
    metrics = {"model": spec.name, "split": config.split, "training": result.summary(),
               **score_parts(result.model, parts, config, ds, offsets, temperature,
                             thresholds)}
    if config.transfer:
        log.info("transfer %s: %s", config.transfer, ", ".join(
            f"{k} micro-F1 {v['at_0.5']['micro_f1']:.3f}" for k, v in metrics["transfer"].items()))
    write_json(run_dir / "metrics.json", metrics)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)
    distributed.broadcast_object((metrics, meta))
    return RunResult(run_dir, metrics, result, meta)


def _training_process(config: TrainConfig, dataset: EmbeddedDataset | None,
                      resume: Path | None) -> RunResult:
    """One process of ``run_training`` with ``devices > 1`` (see :func:`distributed.launch`)."""
    return run_training(config, dataset=dataset, resume=resume)


def evaluate_saved(path: str | os.PathLike[str] | None, *, split: str | None = None,
                   part: str = "test", data: str | os.PathLike[str] | None = None,
                   dataset: EmbeddedDataset | None = None,
                   batch_size: int = 256) -> dict[str, Any]:
    """Evaluate a saved model on ``part`` of ``split`` with its stored calibration.

    ``split`` defaults to the one the model was trained with (``scaffold`` if unknown).
    The thresholds stored with the model (tuned on its validation split) give ``tuned``.
    """
    if part not in PARTS:
        raise MspectmolError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    model, meta = load_model(find_model(path))
    scheme = split or meta.training.get("split", "scaffold")
    ds = dataset if dataset is not None else model_dataset(meta, data)
    if tuple(ds.label_names) != tuple(meta.label_names):
        raise MspectmolError("the dataset's labels differ from the model's label names")
    data_split = split_data(ds, (meta.primary, *meta.auxiliary), scheme, part)
    thresholds = None if meta.thresholds is None else np.asarray(meta.thresholds)
    metrics = evaluate_model(model, data_split, thresholds=thresholds,
                             temperature=meta.temperature, offsets=meta.logit_offsets,
                             names=meta.label_names,
                             batch_size=batch_size)
    return {"model": meta.model_name, "split": scheme, "part": part, **metrics}
