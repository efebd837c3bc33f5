"""Command-line options shared by the commands that read spectra: the model argument, one
file option per modality, and the options of the one preprocessing path
(:class:`mspectmol.spectra.pipeline.PrepareOptions`) of ``predict``, ``explain``, ``convert``
and ``finetune``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mspectmol.errors import MspectmolError
from mspectmol.predict.common import plain_label
from mspectmol.spectra.modalities import MODALITIES, modality_names, option_name


def add_preparation_options(parser: argparse.ArgumentParser) -> None:
    """Add the reading and preprocessing option group."""
    prep = parser.add_argument_group("reading and preprocessing of the spectra")
    prep.add_argument("--x-unit", action="append", default=[], metavar="[MOD=]UNIT",
                      help="declare the x unit of the files (cm-1, um, nm, eV, ppm, Hz), "
                           "overriding what they say or what was assumed; MOD= limits it to "
                           "one modality (e.g. c_nmr=Hz); repeatable")
    prep.add_argument("--y-unit", action="append", default=[], metavar="[MOD=]UNIT",
                      help="declare the intensity unit (absorbance, %%T, transmittance, "
                           "absorptivity, reflectance, ...), overriding the file or a unit "
                           "decided from the values; MOD= limits it to one modality "
                           "(e.g. ir=%%T); repeatable")
    kind = prep.add_mutually_exclusive_group()
    kind.add_argument("--peaks", dest="kind", action="store_const", const="peaks",
                      default=None, help="the files are peak lists (position, intensity): "
                                         "render them with the training line shape")
    kind.add_argument("--profile", dest="kind", action="store_const", const="profile",
                      help="the files are sampled spectra, even when short or irregular")
    prep.add_argument("--observe-mhz", type=float, default=None, metavar="MHZ",
                      help="spectrometer frequency for NMR axes in Hz when a file does not "
                           "say")
    prep.add_argument("--min-coverage", type=float, default=None, metavar="FRACTION",
                      help="smallest fraction of the grid a spectrum must span (default 0.5, "
                           "UV-Vis 0.2)")
    prep.add_argument("--solvent", default=None, metavar="NAME",
                      help="NMR solvent (CDCl3, DMSO-d6, acetone-d6, C6D6, CD3CN, CD3OD, D2O): "
                           "its residual and water peaks and TMS are zeroed; default: the "
                           "solvent named in the file, if any; 'none' removes nothing; a "
                           "manifest's solvent column wins")
    prep.add_argument("--solvent-window", type=float, nargs=2, default=None,
                      metavar=("H_PPM", "C_PPM"),
                      help="half-widths of the zeroed windows in 1H and 13C spectra "
                           "(default 0.05 1.0 ppm)")
    prep.add_argument("--no-baseline", action="store_true",
                      help="no ALS baseline correction of IR, Raman and UV-Vis spectra")
    prep.add_argument("--denoise", action="store_true",
                      help="light Savitzky-Golay smoothing (5 grid points, order 2)")


def unit_table(values: list[str], flag: str) -> dict[str, str]:
    """``["ir=%T", "Hz"]`` -> ``{"ir": "%T", "*": "Hz"}``, checking the modality names."""
    table: dict[str, str] = {}
    names = modality_names()
    for value in values:
        mod, sep, unit = value.partition("=")
        if sep and mod.strip() in names:
            key, unit = mod.strip(), unit.strip()
        elif sep and mod.strip():
            raise MspectmolError(f"{flag} {value!r}: {mod!r} is not a modality "
                                 f"({', '.join(names)})")
        else:
            key, unit = "*", value.strip()
        if not unit:
            raise MspectmolError(f"{flag} {value!r}: no unit given")
        table[key] = unit
    return table


def preparation_options(args: argparse.Namespace) -> Any:
    """The :class:`~mspectmol.spectra.pipeline.PrepareOptions` the options ask for.

    Raises
    ------
    MspectmolError
        An unknown solvent or unit, a negative window, a coverage outside 0-1.
    """
    from mspectmol.spectra.pipeline import PrepareOptions
    from mspectmol.spectra.solvents import SOLVENT_HALF_WIDTH, canonical_solvent
    from mspectmol.spectra.units import normalise_x_unit, normalise_y_unit

    if args.solvent is not None:
        canonical_solvent(args.solvent)  # unknown names fail before any file is read
    widths = dict(SOLVENT_HALF_WIDTH)
    if args.solvent_window is not None:
        if min(args.solvent_window) < 0:
            raise MspectmolError("--solvent-window half-widths must be >= 0")
        widths = {"h_nmr": args.solvent_window[0], "c_nmr": args.solvent_window[1]}
    if args.min_coverage is not None and not 0.0 <= args.min_coverage <= 1.0:
        raise MspectmolError(f"--min-coverage must be within 0-1, got {args.min_coverage}")
    x_units = unit_table(args.x_unit, "--x-unit")
    y_units = unit_table(args.y_unit, "--y-unit")
    for unit in x_units.values():
        normalise_x_unit(unit, "--x-unit")
    for unit in y_units.values():
        normalise_y_unit(unit, "--y-unit")
    if args.observe_mhz is not None and not args.observe_mhz > 0:
        raise MspectmolError(f"--observe-mhz must be positive, got {args.observe_mhz}")
    return PrepareOptions(solvent=args.solvent, half_width=widths,
                          baseline=not args.no_baseline, denoise=args.denoise,
                          min_coverage=args.min_coverage, x_unit=x_units, y_unit=y_units,
                          kind=args.kind, observe_mhz=args.observe_mhz)


def add_model_argument(parser: Any) -> None:
    """The optional positional ``model`` of ``predict``, ``explain`` and ``evaluate``."""
    parser.add_argument("model", nargs="?", default=None,
                        help="model folder, model file, run folder or the name of a packaged "
                             "model (default: the packaged default model, PA-IB with IR "
                             "primary and 1H/13C-NMR auxiliary)")


def add_file_options(parser: Any, title: str) -> None:
    """Add ``--ir FILE``, ``--h-nmr FILE``, ... (dest ``file_<modality>``) as an option group."""
    files = parser.add_argument_group(title)
    for name, mod in MODALITIES.items():
        files.add_argument(option_name(name), dest=f"file_{name}", type=Path, default=None,
                           metavar="FILE", help=f"{plain_label(mod.label)} spectrum file")
