"""``mspectmol formula``: ranked molecular formulas from a mass spectrum or an m/z."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mspectmol.chem.formula.composition import ADDUCTS
from mspectmol.chem.formula.search import DEFAULT_LIMITS, parse_elements
from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_write
from mspectmol.predict.formula import formulas_for_file, formulas_for_peaks


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    default_elements = "".join(DEFAULT_LIMITS)
    p = sub.add_parser(
        "formula", parents=parents,
        help="rank molecular formulas from a mass spectrum (accurate m/z and isotopes)",
        description="Molecular formulas of a mass spectrum's ion, ranked by mass error, "
                    "isotope pattern (M+1, M+2, M+3) and a prior learned from known molecules, "
                    "after the chemical rules (RDBE, nitrogen rule, Senior, element ratios). "
                    "An MS/MS file's precursor m/z is used; without one, the highest-m/z peak "
                    "that is not an isotope peak is taken as the molecular ion (said in the "
                    "output). Give --mz instead of a file for a single m/z.")
    p.add_argument("spectrum", nargs="?", type=Path, default=None,
                   help="mass spectrum file (MGF, MSP, JCAMP-DX, two-column text)")
    p.add_argument("--mz", type=float, default=None,
                   help="the ion's m/z (the precursor of the file's spectrum, or alone)")
    p.add_argument("--isotopes", default=None, metavar="M+1,M+2,...",
                   help="with --mz alone: isotope intensities relative to M (e.g. 0.13,0.012)")
    p.add_argument("--adduct", default=None,
                   help=f"ion type: {', '.join(ADDUCTS)} (aliases M+H, M-H, EI, ...; default: "
                        "the file's, else [M+H]+ with a precursor and [M]+ without)")
    p.add_argument("--ppm", type=float, default=5.0, help="mass tolerance in ppm (default 5)")
    p.add_argument("--elements", default=None,
                   help=f"elements searched, with optional maximum counts (default "
                        f"{default_elements}; e.g. CHNOS2Cl3)")
    p.add_argument("--no-isotopes", action="store_true",
                   help="rank without the isotope pattern")
    p.add_argument("--top", type=int, default=10, help="candidates listed (default 10)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default text)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="write the result to this file instead of standard output")
    p.set_defaults(run=run)


def _isotopes(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise MspectmolError(f"--isotopes {text!r}: expected numbers separated by commas, "
                             "e.g. 0.13,0.012") from None
    if any(v < 0 for v in values):
        raise MspectmolError("--isotopes: intensities must not be negative")
    return values


def run(args: argparse.Namespace) -> int:
    if args.spectrum is None and args.mz is None:
        raise MspectmolError("formula: give a mass spectrum file or --mz")
    if args.top < 1:
        raise MspectmolError(f"--top must be at least 1, got {args.top}")
    limits = parse_elements(args.elements)
    if args.spectrum is not None:
        result = formulas_for_file(args.spectrum, precursor_mz=args.mz, adduct=args.adduct,
                                   ppm=args.ppm, limits=limits, top=args.top,
                                   use_isotopes=not args.no_isotopes)
    else:
        iso = _isotopes(args.isotopes)
        mz = [args.mz] + [args.mz + 1.0033548 * (k + 1) for k in range(len(iso or []))]
        result = formulas_for_peaks(mz, [1.0, *(iso or [])], source=f"m/z {args.mz}",
                                    precursor_mz=args.mz, adduct=args.adduct or "[M+H]+",
                                    ppm=args.ppm, limits=limits, top=args.top,
                                    use_isotopes=not args.no_isotopes)
        if args.adduct is None:
            result.notes.append("ion type not given: assumed [M+H]+ (set it with --adduct)")
    text = (json.dumps(result.to_dict(), indent=1) if args.format == "json"
            else result.text()) + "\n"
    if args.output is not None:
        atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
