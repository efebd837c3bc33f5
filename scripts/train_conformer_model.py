"""Train the spectrum-conditioned conformer diffusion model (and its comparison variants).

Trains on the QM9 molecules of the embedded dataset's scaffold-split training part (DFT
geometries as targets, IR and Raman spectra as conditions), keeps the epoch with the lowest
validation loss, picks the refinement start step on validation molecules and writes each
variant to ``<out>/<variant>/model``. With ``--ship``, the PA-IB variant is copied to
``src/mspectmol/conformers/pretrained`` (the packaged default model). Resumable: rerun the
same command after an interruption. One thread (``--threads``) by default.

Examples
--------
::

    OMP_NUM_THREADS=1 python scripts/train_conformer_model.py --variants pa_ib none attention \\
        --out /tmp/conformer_models --ship
    python scripts/train_conformer_model.py --primary raman --auxiliary ir --variants pa_ib \\
        --out /tmp/conformer_raman
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=["pa_ib"],
                   choices=["pa_ib", "none", "attention"])
    p.add_argument("--primary", default="ir")
    p.add_argument("--auxiliary", nargs="*", default=["raman"])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=96)
    p.add_argument("--n-steps", type=int, default=50)
    p.add_argument("--max-train", type=int, default=0, help="0: all training molecules")
    p.add_argument("--refine-val", type=int, default=32,
                   help="validation molecules for choosing the refinement start step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ship", action="store_true",
                   help="copy the pa_ib model to the package's pretrained folder")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from mspectmol.conformers.data import load_conformer_records
    from mspectmol.conformers.io import PRETRAINED_DIR
    from mspectmol.conformers.model import ConformerConfig
    from mspectmol.conformers.train import TrainSettings, train_variant

    modalities = (args.primary, *args.auxiliary)
    records = load_conformer_records(modalities, split_scheme="scaffold")
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             seed=args.seed, max_train=args.max_train)
    for variant in args.variants:
        started = time.process_time()
        cfg = ConformerConfig(spectrum_encoder=variant, primary=args.primary,
                              auxiliary=tuple(args.auxiliary), hidden=args.hidden,
                              n_steps=args.n_steps)
        model, meta = train_variant(cfg, records, settings, args.out / variant,
                                    refine_val=args.refine_val)
        t = meta["training"]
        print(json.dumps({"variant": variant, "best_epoch": t.get("best_epoch"),
                          "best_val_loss": t.get("best_val_loss"),
                          "train_cpu_seconds": t.get("cpu_seconds"),
                          "refine": t.get("refine_selection"),
                          "process_cpu_seconds_this_call": time.process_time() - started}))
    if args.ship:
        if "pa_ib" not in args.variants:
            p.error("--ship needs the pa_ib variant")
        PRETRAINED_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("model.safetensors", "model.json"):
            shutil.copy2(args.out / "pa_ib" / "model" / name, PRETRAINED_DIR / name)
        print(f"shipped {PRETRAINED_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
