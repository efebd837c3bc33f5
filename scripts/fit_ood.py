"""Fit a saved model's out-of-distribution score and report how often it flags.

    python scripts/fit_ood.py MODEL [--write] [--render] [--alberts PARQUET]

Fits :func:`mspectmol.models.ood.fit_ood` on the embedded dataset's training part (as the
model's split; with ``--render`` also one randomised rendering of it), with the threshold at
the 97.5th percentile of the validation part (``mspectmol.models.ood.QUANTILE``), then
prints the share of spectra flagged on the in-domain test part, on the Alberts et al.
example (transfer validation: never trained on; its spectra go through the same preparation
as ``predict``) and on pure-noise spectra.
``--write`` stores the fitted score in the model's ``model.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mspectmol.data.batches import SplitData, split_data
from mspectmol.data.rendering import PeakRenderer
from mspectmol.data.transfer import transfer_arrays
from mspectmol.models.datasets import dataset_for
from mspectmol.models.inference import find_model
from mspectmol.models.io import load_model, save_model
from mspectmol.models.ood import fit_ood, ood_scores, representations

ALBERTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "alberts-example" / \
    "example_data_1.parquet"


def alberts_inputs(path: Path, meta, n_max: int = 100) -> tuple[dict, dict]:
    """The example's spectra on the model's grids, prepared as ``predict`` prepares them."""
    mods = (meta.primary, *meta.auxiliary)
    grids = {m: np.linspace(meta.modalities[m]["x_min"], meta.modalities[m]["x_max"],
                            meta.modalities[m]["n_points"]) for m in mods}
    _, _, spectra, avail = transfer_arrays(path, mods, grids, meta.normalisation, n_max)
    return spectra, avail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--render", action="store_true",
                        help="also fit on one randomised rendering of the training part")
    parser.add_argument("--alberts", type=Path, default=ALBERTS)
    parser.add_argument("--split", default="scaffold")
    args = parser.parse_args()
    path = find_model(args.model)
    model, meta = load_model(path)
    mods = (meta.primary, *meta.auxiliary)
    ds = dataset_for(meta)
    parts = {p: split_data(ds, mods, args.split, p) for p in ("train", "val", "test")}
    train = parts["train"]
    reps = [representations(model, train.spectra, train.available)]
    if args.render:
        renderer = PeakRenderer(train.ids, mods, {m: ds.grids[m] for m in mods})
        rng = np.random.default_rng([0, 23, 0])
        rendered = SplitData(train.ids, train.labels,
                             {m: renderer.render(m, rng) for m in mods}, train.available)
        reps.append(representations(model, rendered.spectra, rendered.available))
    val = parts["val"]
    ood = fit_ood(np.vstack(reps), representations(model, val.spectra, val.available))
    test = parts["test"]
    rows = {"in-domain test": ood_scores(representations(model, test.spectra,
                                                          test.available), ood)}
    if args.alberts.is_file():
        spectra, avail = alberts_inputs(args.alberts, meta)
        rows["Alberts example (transfer)"] = ood_scores(representations(model, spectra, avail),
                                                        ood)
    rng = np.random.default_rng(0)
    noise = {m: rng.random((200, test.spectra[m].shape[1])).astype(np.float32) for m in mods}
    noise_avail = {m: np.ones(200, dtype=bool) for m in mods}
    rows["uniform noise"] = ood_scores(representations(model, noise, noise_avail), ood)
    print(f"{path}: threshold {ood['threshold']:.3f} "
          f"({100 * ood['quantile']:g}th percentile of validation)")
    print("| spectra | n | flagged | median score |")
    print("|---|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {s.size} | {(s > ood['threshold']).mean():.1%} | "
              f"{np.median(s):.2f} |")
    if args.write:
        meta.ood = ood
        save_model(path, model, meta)
        print(f"wrote the out-of-distribution score into {path / 'model.json'}")


if __name__ == "__main__":
    main()
