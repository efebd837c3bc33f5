"""``mspectmol convert``: spectrum files -> the canonical N-point grid (CSV or parquet)."""

from __future__ import annotations

import argparse
import logging
import textwrap
from pathlib import Path

from mspectmol.cli.flags import add_deprecated_alias
from mspectmol.cli.spectra_options import add_preparation_options, preparation_options
from mspectmol.errors import MspectmolError
from mspectmol.spectra.convert import check_output_path, convert_files, write_grids
from mspectmol.spectra.modalities import get_modality, modality_names
from mspectmol.spectra.readers.formats import format_help, format_list, format_names

log = logging.getLogger("mspectmol.convert")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "convert", parents=parents,
        help="put spectrum files on the canonical grid (CSV or parquet)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            f"Read spectrum files ({format_list()}), convert units (transmittance -> "
            "absorbance, um/nm -> cm-1, nm -> eV, Hz -> ppm), bring them onto N points over "
            "the modality's canonical range the way predict does (cell integrals that keep "
            "narrow lines, peak lists rendered, baseline, solvent), normalise, and write CSV "
            "or parquet. The format of each file is told by its content, else by its "
            "extension.", 79),
        epilog=f"input formats (--input-format NAME):\n{format_help()}",
    )
    p.add_argument("inputs", nargs="+", type=Path, help="spectrum files")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output file, .csv or .parquet (one per modality if several)")
    p.add_argument("-m", "--modality", default=None,
                   help="modality of the files that do not say what they hold: "
                        f"{', '.join(modality_names())}")
    p.add_argument("-n", "--points", type=int, default=600,
                   help="number of grid points (default 600)")
    p.add_argument("--normalise", default="max",
                   choices=["max", "area", "minmax", "zscore", "none"],
                   help="normalisation after interpolation (default: max = 1)")
    fmt = p.add_argument("--input-format", dest="fmt", default=None, metavar="FORMAT",
                         help="read the files as this format instead of detecting it: "
                              f"{', '.join(format_names())} (or another name listed below)")
    add_deprecated_alias(p, "--format", fmt)
    add_preparation_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.points < 2:
        raise MspectmolError(f"--points must be at least 2, got {args.points}")
    check_output_path(args.output)
    grids = convert_files(args.inputs, modality=args.modality, n_points=args.points,
                          normalise=args.normalise, fmt=args.fmt,
                          options=preparation_options(args))
    for path in write_grids(grids, args.output):
        log.info("wrote %s", path)
    for mod, grid in grids.items():
        log.info("%s: %d spectra on %d points from %g to %g %s", mod, len(grid.rows), grid.x.size,
                 grid.x[0], grid.x[-1], get_modality(mod).x_unit)
    return 0
