"""How much of a classifier's transfer loss is molecule size: its scores on the embedded
dataset's drug-size molecules, simulated by mspectmol itself.

The transfer validation set (Alberts et al.'s example) differs from the training data in two
ways at once: another group's simulator and larger molecules (median 21 heavy atoms against 9).
This script separates them. It scores a model on the scaffold-test molecules of the embedded
dataset v2's drug-size part (12-40 heavy atoms, never trained on by a v1 model; the v2 test
part of a v2 model), rendered from their peak lists the fixed way (training line widths) and
with the sim-to-real randomisation (every spectrum randomised, seed 0), with all the model's
spectra and with the primary alone, at threshold 0.5 through the prediction path of
``predict``. Scores near the transfer figure mean the loss comes from size, not simulator.

    python scripts/drug_size_check.py [MODEL ...]   # default: the packaged default model
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mspectmol.chem.functional_groups import label
from mspectmol.data.dataset import EMBEDDED_V2_DIR
from mspectmol.data.render_settings import RenderSettings
from mspectmol.data.rendering import PeakRenderer
from mspectmol.models.inference import find_model, model_grid
from mspectmol.models.inputs import SampleInputs
from mspectmol.models.io import load_model
from mspectmol.predict.pipeline import predict_inputs
from mspectmol.predict.transfer import micro_macro_f1


def drug_size_test() -> tuple[np.ndarray, list[str]]:
    """Ids and SMILES of the v2 drug-size molecules in the scaffold split's test part."""
    index = pq.read_table(EMBEDDED_V2_DIR / "index.parquet",
                          columns=["id", "smiles", "part", "split_scaffold"]).to_pydict()
    rows = [i for i, (p, s) in enumerate(zip(index["part"], index["split_scaffold"],
                                             strict=True)) if p == "v2" and s == "test"]
    return np.asarray(index["id"])[rows], [index["smiles"][i] for i in rows]


def scores(model_dir: str | None) -> list[tuple[str, str, float, float, float]]:
    """``(rendering, spectra, micro-F1, macro-F1, calls per molecule)`` rows."""
    model, meta = load_model(find_model(model_dir))
    mods = (meta.primary, *meta.auxiliary)
    grids = {m: model_grid(meta, m) for m in mods}
    ids, smiles = drug_size_test()
    truth = np.stack([label(s) for s in smiles]).astype(int)
    rows = []
    for rendering, probability in (("fixed", 0.0), ("randomised", 1.0)):
        renderer = PeakRenderer(ids, mods, grids, RenderSettings(probability=probability),
                                path=EMBEDDED_V2_DIR)
        rng = np.random.default_rng(0)
        spectra = {m: renderer.render(m, rng, clean=probability == 0.0) for m in mods}
        for name, given in (("all", mods), (f"{meta.primary} alone", (meta.primary,))):
            samples = [SampleInputs(str(k), {m: spectra[m][i] if m in given else
                                             np.zeros_like(spectra[m][i]) for m in mods},
                                    {m: m in given for m in mods}, {})
                       for i, k in enumerate(ids)]
            prob = np.stack([p.probabilities for p in
                             predict_inputs(model, meta, samples, regions=1)])
            micro, macro = micro_macro_f1(truth, prob >= 0.5)
            rows.append((rendering, name, micro, macro, float((prob >= 0.5).sum(1).mean())))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=[None],
                        help="model folders (default: the packaged default model)")
    args = parser.parse_args()
    ids, smiles = drug_size_test()
    truth = np.stack([label(s) for s in smiles])
    print(f"v2 drug-size scaffold test: {len(ids)} molecules, {truth.sum(1).mean():.2f} groups "
          "per molecule")
    print("| model | rendering | spectra | micro-F1 | macro-F1 | calls/molecule |")
    print("|---|---|---|---:|---:|---:|")
    for model_dir in args.models:
        path = Path(model_dir) if model_dir else None
        name = "default" if path is None else (
            path.parent.name if path.name == "model" else path.name)  # a run folder's model/
        for rendering, spectra, micro, macro, calls in scores(model_dir):
            print(f"| {name} | {rendering} | {spectra} | {micro:.3f} | {macro:.3f} | "
                  f"{calls:.2f} |")


if __name__ == "__main__":
    main()
