"""Train the structure model that ships with mspectmol: ``mspectmol train --task structure``
under this script's older option names.

The packaged ``default`` structure model is built with (its MODEL_CARD.md gives the line)::

    OMP_NUM_THREADS=1 mspectmol train --task structure \\
        --output src/mspectmol/structure/pretrained/default

(the SMILES decoder on the features of the packaged PA-IB model ``fixed-rendering``, 8
epochs or 14 minutes, ranking weights chosen on 150 validation molecules; see
:mod:`mspectmol.structure.model.recipes`). This script passes its arguments to that command,
reading ``--out`` as ``--output`` (default: the packaged model's folder) and ``--n-val`` as
``--ranking-val``.
"""

from __future__ import annotations

import sys

from mspectmol.cli.main import main
from mspectmol.structure.pretrained import DEFAULT_STRUCTURE_MODEL

RENAMED = {"--out": "--output", "--n-val": "--ranking-val"}


if __name__ == "__main__":
    argv = [RENAMED.get(a, a) for a in sys.argv[1:]]
    if "--output" not in argv:
        argv += ["--output", str(DEFAULT_STRUCTURE_MODEL)]
    raise SystemExit(main(["train", "--task", "structure", *argv]))
