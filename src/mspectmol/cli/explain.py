"""``mspectmol explain``: predicted groups, the spectral regions behind them, and a figure.

The spectra come from files (read through the reader dispatcher and brought onto the model's
grids with the one preprocessing path, :func:`~mspectmol.spectra.pipeline.prepare`, as
``predict`` does) or from the embedded dataset by
molecule id (exactly the arrays the model was trained on). Auxiliary spectra that are not
given count as missing (availability False). Probabilities use the model's calibration
temperature and calls its per-group thresholds when the model file has them (else 0.5).

For a PA-IB model the report gives the gate importance of each modality (shared by every
call: the gates are not group-specific) and, for each call, the regions of its attribution
(gate importance x |gradient x input|, :func:`mspectmol.explain.importance.group_attribution`).
A neural model without gates gets gradient x input alone and a figure without shading; a
classical model gets probabilities only.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.cli.flags import add_top_option
from mspectmol.cli.spectra_options import (
    add_file_options,
    add_model_argument,
    add_preparation_options,
    preparation_options,
)
from mspectmol.data.batches import make_split
from mspectmol.errors import MspectmolError
from mspectmol.explain.importance import (
    group_attribution,
    importance_from_gates,
    run_with_gates,
    top_regions,
)
from mspectmol.explain.plots import FIGURE_SUFFIXES, plot_spectra_importance
from mspectmol.models.datasets import dataset_for
from mspectmol.models.inference import (
    find_model,
    is_neural,
    model_grid,
    model_thresholds,
    predict_logits,
    probabilities,
)
from mspectmol.models.io import load_model
from mspectmol.models.loop import torch_threads
from mspectmol.models.ood import ood_report, ood_scores, representations
from mspectmol.predict.common import format_regions
from mspectmol.predict.common import probability_table as _table
from mspectmol.spectra.modalities import MODALITIES
from mspectmol.spectra.modalities import option_name as _option
from mspectmol.spectra.pipeline import prepare
from mspectmol.spectra.readers import read_spectrum

log = logging.getLogger("mspectmol.explain")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "explain", parents=parents,
        help="explain a model's functional-group calls on one molecule's spectra",
        description="Predict the functional groups of one molecule from its spectra (files, "
                    "or a molecule of the embedded dataset), print the probabilities and "
                    "the spectral regions behind each call, and draw a figure of the "
                    "spectra shaded by the model's gate importance.",
    )
    add_model_argument(p)
    add_file_options(p, "spectrum files (or --dataset-id)")
    p.add_argument("--dataset-id", default=None, metavar="ID",
                   help="use this molecule of the dataset instead of files (e.g. qm9-000025)")
    p.add_argument("--data", type=Path, default=None,
                   help="dataset folder for --dataset-id (default: the shipped dataset)")
    p.add_argument("--smiles", default=None,
                   help="draw this molecule with the predicted groups highlighted "
                        "(default with --dataset-id: the molecule's SMILES)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="figure file, .png or .svg (default: <id or primary file>_explain.png)")
    add_preparation_options(p)
    add_top_option(p, 10, "default 10; the calls among them get their regions")
    p.add_argument("--regions", type=int, default=3,
                   help="spectral regions listed per modality (default 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's choice; 1 is fastest on a busy "
                        "machine)")
    p.set_defaults(run=run)


@dataclass
class Inputs:
    """One molecule's model inputs."""

    spectra: dict[str, np.ndarray]
    available: dict[str, bool]
    sources: dict[str, str]
    name: str
    smiles: str | None = None
    labels: np.ndarray | None = None
    grids: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def inputs_from_files(meta: Any, files: dict[str, Path], options: Any = None) -> Inputs:
    """Read spectrum files and bring them onto the model's grids (the one preprocessing
    path, :func:`~mspectmol.spectra.pipeline.prepare`, with ``options``).

    Raises
    ------
    MspectmolError
        When the primary spectrum is missing; reader and preprocessing errors name the file.
    """

    modalities = (meta.primary, *meta.auxiliary)
    for m in files:
        if m not in modalities:
            log.warning("ignoring %s %s: the model's inputs are %s", _option(m), files[m],
                        ", ".join(modalities))
    if meta.primary not in files:
        raise MspectmolError(f"the model needs its primary {meta.primary} spectrum: pass "
                             f"{_option(meta.primary)} FILE")
    inputs = Inputs({}, {}, {}, name=files[meta.primary].stem)
    for m in modalities:
        grid = model_grid(meta, m)
        inputs.grids[m] = grid
        if m not in files:
            inputs.spectra[m] = np.zeros(grid.size, dtype=np.float32)
            inputs.available[m], inputs.sources[m] = False, "missing"
            continue
        prepared = prepare(read_spectrum(files[m], m), grid, meta.normalisation, options)
        inputs.spectra[m] = prepared.y
        inputs.warnings += [f"{m} ({files[m].name}): {w}" for w in prepared.warnings]
        inputs.available[m], inputs.sources[m] = True, str(files[m])
    return inputs


def inputs_from_dataset(meta: Any, dataset_id: str, data: Path | None) -> Inputs:
    """One molecule of the (embedded or given) dataset, on the model's grids."""

    ds = dataset_for(meta, data)
    rows = np.flatnonzero(ds.ids == dataset_id)
    where = data if data is not None else "the shipped dataset"
    if rows.size == 0:
        example = f" (ids look like {ds.ids[0]})" if len(ds) else ""
        raise MspectmolError(f"unknown dataset id {dataset_id!r}: not among the {len(ds)} "
                             f"molecules of {where}{example}")
    row = int(rows[0])
    modalities = (meta.primary, *meta.auxiliary)
    if meta.primary not in ds.spectra:
        raise MspectmolError(f"{where} has no {meta.primary} spectra, the model's primary input")
    inputs = Inputs({}, {}, {}, name=dataset_id, smiles=str(ds.smiles[row]),
                    labels=np.asarray(ds.labels[row]))
    for m in modalities:
        inputs.grids[m] = model_grid(meta, m)
        have = m in ds.spectra
        inputs.spectra[m] = (ds.spectra[m][row] if have
                             else np.zeros(inputs.grids[m].size, dtype=np.float32))
        inputs.available[m] = have
        inputs.sources[m] = f"dataset {dataset_id}" if have else "missing"
    return inputs


def predict(model: Any, meta: Any, inputs: Inputs) -> tuple[np.ndarray, Any]:
    """Calibrated probabilities ``(n_labels,)`` and the gated output (None if classical)."""

    batch = {m: x[None, :] for m, x in inputs.spectra.items()}
    avail = {m: np.array([a]) for m, a in inputs.available.items()}
    if is_neural(model):
        gated = run_with_gates(model, batch, avail)
        return probabilities(gated.logits, meta.temperature, meta.logit_offsets)[0], gated
    split = make_split(["input"], np.zeros((1, len(meta.label_names))),
                       {m: batch[m] if inputs.available[m] else None for m in batch})
    return probabilities(predict_logits(model, split), meta.temperature,
                         meta.logit_offsets)[0], None


def run(args: argparse.Namespace) -> int:
    with torch_threads(args.threads):
        return explain(args)


def explain(args: argparse.Namespace) -> int:
    """Print the calls and regions of one molecule's spectra and draw the figure."""

    files = {m: getattr(args, f"file_{m}") for m in MODALITIES
             if getattr(args, f"file_{m}") is not None}
    if args.dataset_id is not None and files:
        raise MspectmolError("give spectrum files or --dataset-id, not both")
    if args.dataset_id is None and not files:
        raise MspectmolError("no spectra: give files (--ir FILE --h-nmr FILE ...) or "
                             "--dataset-id ID")
    if args.regions < 1 or (args.threads or 1) < 1:
        raise MspectmolError("--regions and --threads must be at least 1")
    if args.output is not None and args.output.suffix.lower() not in FIGURE_SUFFIXES:
        raise MspectmolError(f"{args.output}: unsupported figure format "
                             f"{args.output.suffix or '(no suffix)'!r}; use "
                             f"{', '.join(FIGURE_SUFFIXES)}")
    model, meta = load_model(find_model(args.model))
    inputs = (inputs_from_dataset(meta, args.dataset_id, args.data) if args.dataset_id
              else inputs_from_files(meta, files, preparation_options(args)))
    smiles = args.smiles or inputs.smiles
    prob, gated = predict(model, meta, inputs)
    names = tuple(meta.label_names)
    thresholds = model_thresholds(meta)
    calls = [int(i) for i in np.argsort(-prob, kind="stable") if prob[i] >= thresholds[i]]
    used = [m for m in inputs.spectra if inputs.available[m]]
    out = [f"model: {meta.model_name} ({args.model or 'default'}); inputs: " +
           ", ".join(f"{m} {inputs.sources[m]}" for m in inputs.spectra)]
    calib = (f"temperature {meta.temperature:.3g}" if meta.temperature is not None
             else "no temperature")
    rule = "per-group thresholds" if meta.thresholds is not None else "threshold 0.5"
    out.append(f"probabilities: {calib}; calls at the model's {rule}")
    out += [f"WARNING: {w}" for w in inputs.warnings]
    if getattr(meta, "ood", None) and gated is not None:

        avail = {m: np.array([a]) for m, a in inputs.available.items()}
        (ood,) = ood_report(ood_scores(representations(
            model, {m: x[None, :] for m, x in inputs.spectra.items()}, avail), meta.ood),
            meta.ood)
        if ood["flagged"]:
            out.append(f"WARNING: the spectra are unlike the model's training data "
                       f"(out-of-distribution score {ood['score']:.2f} above "
                       f"{ood['threshold']:.2f}): treat the calls with caution")
    top = args.top or None  # 0: every group
    out += _table(names, prob, thresholds, top, inputs.labels)

    gate_maps = None
    if gated is not None and gated.gate_probs is not None:
        sizes = {m: g.size for m, g in inputs.grids.items()}
        gate_maps = {m: v[0] for m, v in importance_from_gates(gated, sizes).items()
                     if m in used}
        out.append("gate importance (shared by every call; the gates are not group-specific):")
        out += ["  " + format_regions(m, top_regions(gate_maps[m], inputs.grids[m],
                                                      args.regions), inputs.grids[m])
                for m in used]
    elif gated is not None:
        log.warning("model %s has no information-bottleneck gates: the figure shows no "
                    "importance and the regions come from gradient x input alone",
                    meta.model_name)
    else:
        log.warning("%s is a classical model: no importance or regions, probabilities only",
                    meta.model_name)
    if gated is not None and calls:
        kind = ("gate importance x |gradient x input|" if gate_maps is not None
                else "|gradient x input|")
        out.append(f"spectral regions behind each call ({kind}):")
        batch = {m: x[None, :] for m, x in inputs.spectra.items()}
        avail = {m: np.array([a]) for m, a in inputs.available.items()}
        for i in calls[:top]:
            attr = group_attribution(model, batch, i, avail,
                                     None if gate_maps is None
                                     else {m: v[None, :] for m, v in gate_maps.items()})
            out.append(f"  {names[i]} ({prob[i]:.2f}):")
            out += ["    " + format_regions(m, top_regions(attr[m][0], inputs.grids[m],
                                                            args.regions), inputs.grids[m])
                    for m in used]
    elif not calls:
        out.append("no group reaches its threshold")

    path = args.output or Path(f"{inputs.name}_explain.png")
    predictions = [(names[i], float(prob[i])) for i in calls[:top]]
    notes = {} if gate_maps is not None else {m: "no gate importance" for m in used}
    print("\n".join(out), flush=True)
    plot_spectra_importance({m: (inputs.grids[m], inputs.spectra[m]) for m in used},
                            gate_maps, predictions, f"{meta.model_name}: {inputs.name}",
                            smiles=smiles, path=path, notes=notes)
    print(f"figure: {path}")
    return 0
