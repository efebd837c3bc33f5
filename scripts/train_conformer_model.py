"""Train conformer model variants: ``mspectmol train --task conformers`` once per variant.

The packaged conformer model is built with::

    OMP_NUM_THREADS=1 mspectmol train --task conformers --output DIR
    cp DIR/model.safetensors DIR/model.json src/mspectmol/conformers/pretrained/

(the PA-IB variant on IR + Raman, 12 epochs; see
:func:`mspectmol.conformers.train.build_conformer_model`). This script trains each of
``--variants`` into ``<out>/<variant>`` with the other options passed on to that command and,
with ``--ship``, copies the ``pa_ib`` model into the package. Rerun the same command after an
interruption: each model continues from its checkpoint.

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
import shutil
from pathlib import Path

from mspectmol.cli.main import main as cli
from mspectmol.conformers.io import PRETRAINED_DIR
from mspectmol.models.modelfile import META_NAME, WEIGHTS_NAME


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=["pa_ib"],
                   choices=["pa_ib", "none", "attention"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ship", action="store_true",
                   help="copy the pa_ib model to the package's pretrained folder")
    args, rest = p.parse_known_args(argv)
    if args.ship and "pa_ib" not in args.variants:
        p.error("--ship needs the pa_ib variant")
    for variant in args.variants:
        code = cli(["train", "--task", "conformers", "--variant", variant, "--output",
                    str(args.out / variant), *rest])
        if code:
            return code
    if args.ship:
        for name in (WEIGHTS_NAME, META_NAME):
            shutil.copy2(args.out / "pa_ib" / name, PRETRAINED_DIR / name)
        print(f"shipped {PRETRAINED_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
