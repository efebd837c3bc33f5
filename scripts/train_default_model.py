"""Train the default model that ships with mspectmol and write its model card.

The default model is PA-IB with IR as the primary spectrum and 1H- and 13C-NMR as auxiliary
spectra (the paper's best configuration, appendix H), trained on the training part of the
embedded dataset's Bemis-Murcko scaffold split with appendix B's protocol (Adam, lr 4e-4,
cosine annealing, batch 128, up to 100 epochs, early stopping on validation micro-F1 with
patience 15). Validation picks the epoch, the calibration temperature and the per-group
thresholds; the test part is evaluated once, for the model card.

    python scripts/train_default_model.py [--threads 2] [--out runs/default-model]

The model files are copied to ``src/mspectmol/models/pretrained/default/`` and the card to
``MODEL_CARD.md`` beside them (with the measured time per epoch and the test metrics).
"""

from __future__ import annotations

import argparse
import csv
import platform
import shutil
import time

import torch

from mspectmol import __version__
from mspectmol.models.pretrained import PRETRAINED_DIR
from mspectmol.training.config import TrainConfig
from mspectmol.training.pipeline import run_training

SETTINGS = {"model": "pa_ib", "primary": "ir", "auxiliary": ("h_nmr", "c_nmr"),
            "split": "scaffold", "seed": 0, "epochs": 100, "patience": 15,
            "progress": False}


def _card(result, config: TrainConfig, wall: float) -> str:
    m = result.metrics
    rows = list(csv.DictReader((result.run_dir / "log.csv").open(encoding="utf-8")))
    per_epoch = [float(r["seconds"]) for r in rows]
    settings = ", ".join(f"{k} {v}" for k, v in config.to_dict().items()
                         if k in SETTINGS and k != "progress")
    lines = [
        "# mspectmol default model", "",
        "PA-IB (the paper's primary-auxiliary information bottleneck) with **IR as the "
        "primary spectrum** and **1H- and 13C-NMR as auxiliary spectra**, predicting the 37 "
        "functional groups of the paper's Table 5. `mspectmol predict` and `mspectmol "
        "explain` use it when no model is named.", "",
        "Trained with `python scripts/train_default_model.py` on the embedded dataset "
        "(spectra simulated by mspectmol: GFN2-xTB IR, CSP5 NMR; see docs/data_card.md), "
        f"training part of the scaffold split ({result.meta.training['n_train']} molecules; "
        f"validation {result.meta.training['n_val']}).", "",
        "## Training",
        f"- settings: {settings}, batch {config.batch_size}, lr {config.lr}",
        f"- epochs run: {len(rows)} (best epoch {result.train.best_epoch}, "
        f"early stop: {result.train.stopped_early})",
        f"- time per epoch: {sum(per_epoch) / len(per_epoch):.1f} s on average "
        f"(min {min(per_epoch):.1f}, max {max(per_epoch):.1f}), training and validation",
        f"- total wall time of the run: {wall / 60:.1f} min",
        f"- machine: {torch.get_num_threads()} torch threads, {platform.machine()} CPU, "
        f"torch {torch.__version__}, mspectmol {__version__}", "",
        "## Scores (scaffold split)",
        "| part | micro-F1 @0.5 | macro-F1 @0.5 | micro-F1 tuned | macro-F1 tuned | "
        "exact match tuned |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for part in ("val", "test"):
        a, t = m[part]["at_0.5"], m[part]["tuned"]
        lines.append(f"| {part} ({m[part]['n_samples']}) | {a['micro_f1']:.3f} | "
                     f"{a['macro_f1']:.3f} | {t['micro_f1']:.3f} | {t['macro_f1']:.3f} | "
                     f"{t['subset_accuracy']:.3f} |")
    lines += ["", "Thresholds and the calibration temperature "
              f"({result.meta.temperature:.3f}) were fitted on validation; the test part was "
              "evaluated once. Scores on measured spectra will be lower: the model has only "
              "seen simulated spectra.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/default-model")
    args = parser.parse_args()
    config = TrainConfig(**SETTINGS, threads=args.threads, out=args.out)
    start = time.perf_counter()
    result = run_training(config)
    wall = time.perf_counter() - start
    target = PRETRAINED_DIR / "default"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(result.run_dir / "model", target)
    (target / "MODEL_CARD.md").write_text(_card(result, config, wall), encoding="utf-8")
    print(f"default model written to {target} ({wall / 60:.1f} min)")


if __name__ == "__main__":
    main()
