"""``mspectmol label``: the 37 functional groups of molecules given as SMILES."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.chem.labelling import label_molecules

log = logging.getLogger("mspectmol.label")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "label", parents=parents,
        help="functional groups of molecules (SMILES or a file of them)",
        description="Label molecules with the paper's 37 functional groups (SMARTS, Table 5). "
                    "Arguments are SMILES strings or files (.smi/.txt, or .csv/.tsv with a "
                    "'smiles' column).",
    )
    p.add_argument("molecules", nargs="+", help="SMILES strings and/or files of SMILES")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="write a table (.csv, .tsv or .json) with one 0/1 column per group")
    p.add_argument("--skip-invalid", action="store_true",
                   help="report invalid SMILES and go on instead of stopping at the first")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = label_molecules(args.molecules, skip_invalid=args.skip_invalid)
    for failure in result.failures:
        log.warning("skipped %s", failure)
    if args.output is not None:
        result.write(args.output)
        log.info("wrote labels of %d molecules to %s", len(result.smiles), args.output)
    else:
        out = sys.stdout
        for name, smi, row in zip(result.names, result.smiles, result.labels, strict=True):
            groups = [g for g, bit in zip(GROUP_NAMES, row, strict=True) if bit]
            out.write(f"{name}\t{smi}\t{', '.join(groups) if groups else '(none)'}\n")
    return 0
