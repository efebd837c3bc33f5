"""``mspectmol finetune``: adapt a model to a lab's own measured library, with a k-fold
scaffold cross-validation report (:mod:`mspectmol.training.finetune`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mspectmol.cli.spectra_options import (
    add_model_argument,
    add_preparation_options,
    preparation_options,
)

log = logging.getLogger("mspectmol.finetune")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "finetune", parents=parents,
        help="adapt a model to your own library of measured spectra",
        description="Fine-tune a saved model (default: the packaged one) on a library of "
                    "measured spectra with known structures: a manifest CSV with a 'sample' "
                    "column, one file column per modality and a 'smiles' column (as for "
                    "predict --manifest). First a k-fold Bemis-Murcko scaffold "
                    "cross-validation scores the model before and after fine-tuning on "
                    "held-out folds; then the model is fine-tuned on the whole library and "
                    "saved to OUTDIR with cross_validation.md.",
    )
    add_model_argument(p)
    p.add_argument("--manifest", type=Path, required=True, metavar="CSV",
                   help="the library: sample, file columns per modality, smiles")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                   help="folder for the fine-tuned model and the report")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs (default 20)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--modality-dropout", type=float, default=0.3, metavar="P",
                   help="probability of hiding each auxiliary spectrum of a row (default 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    add_preparation_options(p)
    p.set_defaults(run=run)


def report_lines(cv: list[dict], path: str) -> list[str]:
    """The cross-validation table (markdown)."""
    lines = [f"# Fine-tuning cross-validation: {path}", "",
             "| fold | train | test | micro-F1 before | after | macro-F1 before | after |",
             "|---|---|---|---|---|---|---|"]
    for r in cv:
        b, a = r["before"], r["after"]
        lines.append(f"| {r['fold']} | {r['n_train']} | {r['n_test']} | {b['micro_f1']:.3f} | "
                     f"{a['micro_f1']:.3f} | {b['macro_f1']:.3f} | {a['macro_f1']:.3f} |")
    if cv:
        before = sum(r["before"]["micro_f1"] for r in cv) / len(cv)
        after = sum(r["after"]["micro_f1"] for r in cv) / len(cv)
        lines += ["", f"Mean micro-F1 over the folds: {before:.3f} before and {after:.3f} "
                  "after fine-tuning (calls at the model's thresholds)."]
    return lines + [""]


def run(args: argparse.Namespace) -> int:
    from mspectmol.data.samples import read_manifest
    from mspectmol.fileio import atomic_write
    from mspectmol.models.inference import find_model
    from mspectmol.models.io import load_model, save_model
    from mspectmol.training.finetune import (
        FinetuneSettings,
        cross_validate,
        finetune,
        library_data,
    )

    settings = FinetuneSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                modality_dropout=args.modality_dropout, folds=args.folds,
                                seed=args.seed, threads=args.threads)
    model, meta = load_model(find_model(args.model))
    samples = read_manifest(args.manifest)
    data = library_data(meta, samples, preparation_options(args))
    smiles = [s.smiles for s in samples]
    log.info("library %s: %d molecules; %d-fold scaffold cross-validation", args.manifest,
             len(data), settings.folds)
    cv = cross_validate(model, meta, data, smiles, settings)
    tuned, new_meta = finetune(model, meta, data, settings, cv, str(args.manifest))
    save_model(args.output, tuned, new_meta)
    text = "\n".join(report_lines(cv, str(args.manifest)))
    atomic_write(args.output / "cross_validation.md", text.encode("utf-8"))
    print(text)
    log.info("fine-tuned model written to %s", args.output)
    return 0
