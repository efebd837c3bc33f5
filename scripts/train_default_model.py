"""Train the default model that ships with mspectmol and write its model card.

Training is ``mspectmol train --task classifier --threads 2`` (the packaged ``recommended``
config, :data:`SETTINGS`); this script runs it (or takes a finished run, ``--from-run``),
copies the model into the package and writes the card: scores with spectra missing, the
transfer validation and the files' hashes.

The default model is PA-IB with IR as the primary spectrum and 1H- and 13C-NMR as auxiliary
spectra (the paper's best configuration, appendix H), trained on the training part of the
embedded dataset's Bemis-Murcko scaffold split with appendix B's protocol (Adam, lr 4e-4,
cosine annealing, batch 128, up to 100 epochs, early stopping on validation micro-F1 with
patience 15). Validation picks the epoch, the calibration temperature and the per-group
thresholds; the test part is evaluated once, for the model card, which also gives the test
scores with the 1H and/or 13C spectrum missing.

The auxiliary KL terms are off (``mi1_weight`` = ``beta`` = 0, the paper's "without L_MI1 and
L_MI3" ablation arm of Figure 11b): with eq. 14's weights the auxiliary gates shut completely
on this dataset (mean gate probability 0.000 on validation) and the NMR spectra go unused;
without those two terms the gates stay open and validation micro-F1 rose from 0.871 to about
0.89 (2026-11-26; the model card gives the final numbers). ``mi1_weight`` 0.1 or 0.3 alone
did not open them.

The training spectra are rendered anew every epoch with domain randomisation
(``render="randomised"``, :mod:`mspectmol.data.rendering`), half of each epoch's training rows
are two-molecule mixtures (``mix=0.5``: spectra summed, labels united; crowded spectra like
those of drug-size molecules), validation uses a randomised rendering, and each group's
positive examples are weighted by sqrt(negatives / positives) (``label_weighting="sqrt"``).
Chosen on the transfer validation set (the Alberts et al. example; never trained on) with
``python ../shared/tools/transfer_check.py`` among these full-data recipes, micro-F1 with
IR + 1H + 13C / IR alone, and the in-domain scaffold test micro-F1 / macro-F1 (tuned
thresholds):

- fixed rendering (the ``fixed-rendering`` model, still packaged): 0.441 / 0.335; 0.869 / 0.378
- randomised rendering: 0.616 / 0.416; 0.851 / 0.410
- randomised rendering and sqrt label weighting: 0.626 / 0.447; 0.827 / 0.493
- the same with mixtures: 0.633 / 0.490; 0.805 / 0.473
- the same with the prior correction 0.5 (``prior_correction``, the same weights
  recalibrated): 0.665 / 0.496; 0.817 / 0.530 (strength 1: 0.649 / 0.467; 0.819 / 0.475;
  seed 1 of the recipe: 0.623 without the correction, 0.665 with 0.5)
- the same with IR-only samples predicted by the primary head (this default;
  ``model_config.primary_head_alone``, same weights): 0.665 / 0.523; 0.817 / 0.530 (IR alone
  on test 0.713 against 0.704; seed 1: 0.498 against 0.477 on transfer)
- the same with mixtures and hydrogen-bonded X-H stretches (``ir_hbond`` 0.5): 0.621 /
  0.479; 0.798 / 0.468
- the same on v1 plus 699 drug-size v2 molecules, without mixtures: 0.613 / 0.420

With the budget of the ``transfer`` suite (2,048 training molecules, 30 epochs) mixtures
raised transfer micro-F1 for PA-IB, the 1D-CNN and XGBoost alike
(``benchmarks/results/transfer``).

Modality dropout 0.3 (each auxiliary spectrum of a training row hidden with probability 0.3)
is on, so the model also serves a chemist without an NMR spectrum. Chosen on validation
(2026-11-26) by the mean micro-F1 over the four inputs IR + 1H + 13C, IR + 1H, IR + 13C and
IR alone: 0.871 with these settings, 0.865 with eq. 14's weights and no dropout (the previous
default), 0.839 without the auxiliary KL terms and without dropout; with all three spectra
0.896, 0.871 and 0.892 (threshold 0.5). Macro-F1 over the four inputs favoured the previous
default (0.360 against 0.340).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import platform
import shutil
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import torch

from mspectmol import __version__
from mspectmol.cli.main import main as cli
from mspectmol.data.batches import SplitData, split_data
from mspectmol.models.datasets import dataset_for
from mspectmol.models.integrity import file_digest
from mspectmol.models.io import load_model, save_model
from mspectmol.models.ood import ood_scores, representations
from mspectmol.models.packaged import PACKAGED_DIRS
from mspectmol.predict.transfer import transfer_report
from mspectmol.suites.robustness import mask_modalities
from mspectmol.training.config import TrainConfig
from mspectmol.training.evaluate import evaluate_model
from mspectmol.training.pipeline import fit_model_ood, randomised_rendering

SETTINGS = {"model": "pa_ib", "primary": "ir", "auxiliary": ("h_nmr", "c_nmr"),
            "split": "scaffold", "seed": 0, "epochs": 100, "patience": 15,
            "model_config": {"mi1_weight": 0.0, "beta": 0.0, "label_weighting": "sqrt",
                             "primary_head_alone": True},
            "modality_dropout": 0.3, "render": "randomised", "mix": 0.5,
            "prior_correction": 0.5}
#: Test-time inputs of the card's missing-spectrum table (the primary IR is always given).
INPUTS = {"IR + 1H + 13C": (), "IR + 1H": ("c_nmr",), "IR + 13C": ("h_nmr",),
          "IR alone": ("h_nmr", "c_nmr")}
TARGET = PACKAGED_DIRS["classifier"] / "default"
#: The transfer validation set (another group's simulated spectra; never trained on).
ALBERTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "alberts-example" / \
    "example_data_1.parquet"
#: The card's section on checking the files (integrity is not authenticity).
INTEGRITY = [
    "## Checking the files", "",
    "`model.json` records the SHA-256 and size of `model.safetensors`; loading checks the size "
    "(before reading the file) and the hash, and refuses damaged, truncated or replaced weights "
    "with a message naming the file. The hash proves integrity, not authenticity: it travels "
    "with the weights, so whoever can replace the weights can replace `model.json` too. To "
    "know the files are the ones the author published, compare their hashes with hashes you "
    "got over a channel you trust (the release notes of the mspectmol version you installed, "
    "a signed announcement), not from the same download:", "",
    "```",
    "mspectmol predict default --hash              # or: sha256sum model.safetensors model.json",
    "mspectmol predict default --hash > SHA256SUMS # later: sha256sum -c SHA256SUMS",
    "```", "",
]


def card(meta: Any, metrics: dict[str, Any], log_csv: Path, note: str = "",
         threads: int | None = 2) -> str:
    """The model card (markdown) from the model's metadata, its scores and its epoch log."""
    rows = list(csv.DictReader(log_csv.open(encoding="utf-8")))
    per_epoch = [float(r["seconds"]) for r in rows]
    t = meta.training
    settings = ", ".join(f"{k} {v}" for k, v in SETTINGS.items())
    lines = [
        "# mspectmol default model", "",
        "PA-IB (the paper's primary-auxiliary information bottleneck) with **IR as the "
        "primary spectrum** and **1H- and 13C-NMR as auxiliary spectra**, predicting the 37 "
        "functional groups of the paper's Table 5. `mspectmol predict`, `explain` and "
        "`evaluate` use it when no model is named.", "",
        f"Trained with `mspectmol train --task classifier --threads {threads or 2}` (the "
        "`recommended` config; packaged by `python scripts/train_default_model.py`) on the "
        "embedded dataset "
        "(spectra simulated by mspectmol: GFN2-xTB IR, CSP5 NMR; see docs/data_card.md), "
        f"training part of the scaffold split ({t['n_train']} molecules; validation "
        f"{t['n_val']}).", "",
        "## Training",
        f"- settings: {settings}, batch 128, lr 4e-4, cosine annealing",
        f"- epochs run: {t['epochs_run']} (best epoch {t['best_epoch']}, early stop: "
        f"{t['stopped_early']})",
        f"- time per epoch (training + validation): median {median(per_epoch):.1f} s, mean "
        f"{sum(per_epoch) / len(per_epoch):.1f} s (min {min(per_epoch):.1f}, max "
        f"{max(per_epoch):.1f}){note}",
        f"- training time: {t['seconds'] / 60:.1f} min",
        f"- machine: {threads or 'default'} torch thread(s), {platform.machine()} CPU "
        f"(2 cores), torch "
        f"{torch.__version__}, mspectmol {__version__}", "",
        "## Scores (scaffold split)",
        "| part | micro-F1 @0.5 | macro-F1 @0.5 | micro-F1 tuned | macro-F1 tuned | "
        "exact match tuned |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for part in ("val", "test"):
        a, u = metrics[part]["at_0.5"], metrics[part]["tuned"]
        lines.append(f"| {part} ({metrics[part]['n_samples']}) | {a['micro_f1']:.3f} | "
                     f"{a['macro_f1']:.3f} | {u['micro_f1']:.3f} | {u['macro_f1']:.3f} | "
                     f"{u['subset_accuracy']:.3f} |")
    lines += ["", "Expected calibration error (15 bins) on test: "
              f"{metrics['test']['ece_uncalibrated']:.4f} before and "
              f"{metrics['test']['ece']:.4f} after calibration."]
    if "missing" in metrics:
        lines += ["", "## With spectra missing (test part, tuned thresholds)", "",
                  "| spectra given | micro-F1 | macro-F1 |", "| --- | --- | --- |"]
        for name, m in metrics["missing"].items():
            lines.append(f"| {name} | {m['tuned']['micro_f1']:.3f} | "
                         f"{m['tuned']['macro_f1']:.3f} |")
        if meta.config.get("primary_head_alone"):
            lines += ["", "A sample without any NMR spectrum is predicted by the primary head "
                      "p(Y | T_m), trained on IR alone (`primary_head_alone`); the others by "
                      "the fused head."]
    if "transfer" in metrics:
        lines += ["", "## Transfer validation (another group's simulated spectra)", "",
                  "The 100 molecules of Alberts et al.'s example file (MD-simulated IR, "
                  "MestReNova 1H and 13C NMR, drug-size molecules) read as `predict` reads "
                  "them, calls at probability 0.5; used to choose among recipes, never to "
                  "train (`python ../shared/tools/transfer_check.py` gives the same figures "
                  "through the command line).", "",
                  "| spectra given | micro-F1 | macro-F1 | calls per molecule (true) | "
                  "flagged out-of-distribution |", "| --- | --- | --- | --- | --- |"]
        for name, m in metrics["transfer"].items():
            lines.append(f"| {name} | {m['micro_f1']:.3f} | {m['macro_f1']:.3f} | "
                         f"{m['calls_per_molecule']:.2f} ({m['true_per_molecule']:.2f}) | "
                         f"{m['ood_flagged']:.0%} |")
    if meta.ood is not None:
        lines += ["", "## Out-of-distribution score", "",
                  f"{meta.ood['method']}: fitted on {meta.ood['n_fit']} training "
                  "representations (the training part and one randomised rendering of it), "
                  f"threshold {meta.ood['threshold']:.3f} at the {meta.ood['quantile']:.1%} "
                  "quantile of the validation part. `predict` warns when a sample scores "
                  "above it."]
        if "ood_test" in metrics:
            lines.append(f"Flagged on the in-domain test part: {metrics['ood_test']:.1%}.")
    tuned = sum(1 for x in meta.thresholds if x != 0.5)
    prior = ("" if meta.logit_offsets is None else
             f"after a prior correction of {t['prior_correction']:g} x the log of each group's "
             f"positive-class weight (logit offsets {min(meta.logit_offsets):.2f} to "
             f"{max(meta.logit_offsets):.2f}), ")
    lines += ["", f"The calibration temperature ({meta.temperature:.3f}, {prior}fitted to "
              f"the logits) and the per-group thresholds ({tuned} groups tuned; groups with "
              "fewer than 10 validation positives keep 0.5) were fitted on the randomised "
              "validation fold; the test part was evaluated once. Scores on measured spectra "
              "will be lower: the model has only seen simulated spectra.", ""]
    lines += [*INTEGRITY, "SHA-256 of the files as trained:", "",
              *(f"- `{n}`: `{file_digest(TARGET / n)}`" for n in ("model.safetensors",
                                                                 "model.json")), ""]
    return "\n".join(lines)


def missing_metrics(model: Any, meta: Any, test: SplitData) -> dict[str, Any]:
    """Test scores with each subset of the auxiliary spectra hidden (:data:`INPUTS`)."""
    thresholds = np.asarray(meta.thresholds)
    return {name: evaluate_model(model, mask_modalities(test, gone), thresholds=thresholds,
                                 temperature=meta.temperature, offsets=meta.logit_offsets,
                                 names=meta.label_names)
            for name, gone in INPUTS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/default-model")
    parser.add_argument("--note", default="",
                        help="appended to the time-per-epoch line (e.g. what else ran)")
    parser.add_argument("--from-run", type=Path, default=None, metavar="RUN_DIR",
                        help="package a finished run made with these settings (e.g. by "
                             "mspectmol train) instead of training")
    args = parser.parse_args()
    note = f"; {args.note}" if args.note else ""
    threads = args.threads
    if args.from_run is not None:
        run_dir = args.from_run
        check_run(run_dir)
        run_metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        threads = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["threads"]
    else:
        run_dir = train(args.threads, args.out)
        check_run(run_dir)
        run_metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(run_dir / "model", TARGET)
    model, meta = load_model(TARGET)
    mods = (meta.primary, *meta.auxiliary)
    ds = dataset_for(meta)
    parts = {p: split_data(ds, mods, SETTINGS["split"], p) for p in ("train", "val", "test")}
    if meta.ood is None:  # a run made before the score existed: fit it as training does
        config = TrainConfig(**SETTINGS)
        render_epoch, _ = randomised_rendering(parts["train"], parts["val"], ds, config)
        meta.ood = fit_model_ood(model, parts["train"], parts["val"], render_epoch)
        save_model(TARGET, model, meta)
        model, meta = load_model(TARGET)
    metrics = {**run_metrics, "missing": missing_metrics(model, meta, parts["test"])}
    reps = representations(model, parts["test"].spectra, parts["test"].available)
    metrics["ood_test"] = float((ood_scores(reps, meta.ood) > meta.ood["threshold"]).mean())
    if ALBERTS.is_file():
        metrics["transfer"] = transfer_report(model, meta, ALBERTS)
    (TARGET / "MODEL_CARD.md").write_text(
        card(meta, metrics, run_dir / "log.csv", note, threads), encoding="utf-8")
    print(f"default model written to {TARGET}")


def train(threads: int, out: str) -> Path:
    """``mspectmol train --task classifier`` with the recommended config; the run folder."""
    printed = io.StringIO()
    argv = ["train", "--task", "classifier", "--threads", str(threads), "--output", out,
            "--no-progress"]
    with contextlib.redirect_stdout(printed):
        if cli(argv) != 0:
            raise SystemExit(f"mspectmol {' '.join(argv)} failed")
    return Path(printed.getvalue().strip().splitlines()[-1])


def check_run(run_dir: Path) -> None:
    """Refuse a run folder whose settings are not :data:`SETTINGS`."""
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    wrong = [k for k, v in SETTINGS.items()
             if (list(v) if isinstance(v, tuple) else v) != config.get(k, "none" if k ==
                                                                        "render" else None)]
    if wrong or not (run_dir / "metrics.json").is_file():
        raise SystemExit(f"{run_dir}: not a finished run with the default model's settings "
                         f"(differs in {', '.join(wrong) or 'completion'})")


if __name__ == "__main__":
    main()
