"""Train the evidence-conditioned structure generator: ``mspectmol train --task structure
--variant prior`` under this script's older option names.

The packaged ``prior`` model was built with (its MODEL_CARD.md gives the line)::

    mspectmol train --task structure --variant prior --write-pack pack.npz
    mspectmol train --task structure --variant prior --pack pack.npz --device cuda \\
        --output DIR --epochs 200 --minutes 6.8 --d-model 256 --layers 4 --batch-size 256 \\
        --lr 1e-3 --threads 4

This script passes its arguments to that command, reading ``--out`` as ``--output`` and
``--variants`` (randomised SMILES per structure in a written pack) as ``--smiles-variants``
(see :mod:`mspectmol.structure.generation.prior_training`).
"""

from __future__ import annotations

import sys

from mspectmol.cli.main import main

RENAMED = {"--out": "--output", "--variants": "--smiles-variants"}


if __name__ == "__main__":
    argv = [RENAMED.get(a, a) for a in sys.argv[1:]]
    raise SystemExit(main(["train", "--task", "structure", "--variant", "prior", *argv]))
