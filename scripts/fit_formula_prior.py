"""Fit the packaged molecular-formula prior (``src/mspectmol/chem/data/formula_prior.json``).

Reference formulas: every PubChem compound of the ``chemicals`` wheel and a random sample of
MOSES training molecules (the ``molsets`` wheel), both fetched with pip into ``--cache`` when
absent. The transfer validation set is never used.

Usage: python scripts/fit_formula_prior.py [--moses 200000] [--cache .cache/wheels]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rdkit import Chem, RDLogger
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

from mspectmol.chem.formula.composition import parse_formula
from mspectmol.chem.formula.prior import PRIOR_PATH, fit_prior
from mspectmol.data.sources import moses_smiles, pubchem_chemicals_rows
from mspectmol.errors import MspectmolError


def pubchem_formulas(cache: Path) -> list[dict[str, int]]:
    """Formulas of the PubChem identifier table of the ``chemicals`` wheel (neutral, no '.')."""
    out = []
    for parts in pubchem_chemicals_rows(cache):
        if len(parts) < 5 or "." in parts[4] or "+" in parts[2] or "-" in parts[2]:
            continue
        try:
            out.append(parse_formula(parts[2]))
        except MspectmolError:
            continue
    return out


def moses_formulas(cache: Path, n: int, seed: int) -> list[dict[str, int]]:
    """Formulas of ``n`` random MOSES training molecules."""
    smiles = moses_smiles(cache)
    random.Random(seed).shuffle(smiles)
    RDLogger.DisableLog("rdApp.*")
    out = []
    for s in smiles[:n]:
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            out.append(parse_formula(CalcMolFormula(mol)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moses", type=int, default=200_000, help="MOSES molecules sampled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path(".cache/wheels"))
    ap.add_argument("-o", "--output", type=Path, default=PRIOR_PATH)
    args = ap.parse_args()
    pubchem = pubchem_formulas(args.cache)
    moses = moses_formulas(args.cache, args.moses, args.seed)
    tables = fit_prior([*pubchem, *moses], source=(
        f"{len(pubchem)} PubChem formulas (chemicals 1.5.1) + {len(moses)} MOSES training "
        f"molecules (molsets 0.3.1, seed {args.seed})"))
    args.output.write_text(json.dumps(tables, indent=1) + "\n", encoding="utf-8")
    print(f"{args.output}: {tables['n']} formulas, {len(tables['sets'])} element sets")


if __name__ == "__main__":
    main()
