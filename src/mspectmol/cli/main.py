"""Entry point of the ``mspectmol`` command and its shared options.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; this module wires them together, sets up logging from the shared
``-v/-q/--logfile`` options and turns :class:`~mspectmol.errors.MspectmolError` into a
one-line message and exit status 2 instead of a traceback.

Only the module of the command being run is imported (:data:`COMMANDS` names each module
and its one-line help), so ``mspectmol predict`` does not pay for the imports of
``benchmark`` or ``serve``; ``mspectmol --help`` lists the commands from the table alone.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mspectmol import __version__
from mspectmol.cli.flags import deprecation_messages
from mspectmol.errors import MspectmolError

log = logging.getLogger("mspectmol")

#: Subcommands in help order: name -> (module under ``mspectmol.cli``, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "label": ("label", "functional groups of molecules (SMILES or a file of them)"),
    "convert": ("convert", "put spectrum files on the canonical grid (CSV or parquet)"),
    "simulate": ("simulate", "simulate IR, Raman and NMR peak lists of molecules "
                             "(GFN2-xTB, CSP5)"),
    "train": ("train", "train a classifier, structure or conformer model"),
    "finetune": ("finetune", "adapt a model to your own library of measured spectra"),
    "evaluate": ("evaluate", "evaluate a saved model on the embedded dataset"),
    "explain": ("explain", "explain a model's functional-group calls on one molecule's "
                           "spectra"),
    "predict": ("predict", "predict functional groups from measured spectrum files"),
    "formula": ("formula", "rank molecular formulas from a mass spectrum (accurate m/z and "
                           "isotopes)"),
    "elucidate": ("elucidate", "propose or rank candidate structures (SMILES) from spectra"),
    "conformers": ("conformers", "generate 3D conformers of a molecule conditioned on its "
                                 "IR/Raman spectra"),
    "serve": ("serve", "start the local web app"),
    "benchmark": ("benchmark", "run a benchmark suite of the paper and write result tables"),
}
#: Global options that take a value (skipped when looking for the command name).
_VALUED = ("--logfile",)


def _common_options(top_level: bool) -> argparse.ArgumentParser:
    """Shared options; accepted before or after the subcommand.

    Subcommand copies default to ``SUPPRESS`` so that they do not overwrite values given
    before the subcommand name (``mspectmol -v label ...``).
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output and logging")

    def default(value):
        return value if top_level else argparse.SUPPRESS

    group.add_argument("-v", "--verbose", action="count", default=default(0),
                       help="more log output (-vv for debug)")
    group.add_argument("-q", "--quiet", action="count", default=default(0),
                       help="less log output (-q warnings only, -qq errors only)")
    group.add_argument("--logfile", type=Path, default=default(None),
                       help="also write the log (at debug level) to this file")
    return common


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named on a command line (the first word that is not a global option)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _VALUED:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``commands`` get their full options (None: all of them), the
    others only their name and help, without importing their modules."""
    parser = argparse.ArgumentParser(
        prog="mspectmol",
        description="Functional groups, formulas, structures and conformations from several "
                    "spectra.",
        parents=[_common_options(top_level=True)],
    )
    parser.add_argument("--version", action="version", version=f"mspectmol {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    full = set(COMMANDS) if commands is None else set(commands)
    for name, (module, text) in COMMANDS.items():
        if name in full:
            importlib.import_module(f"mspectmol.cli.{module}").add_parser(
                sub, parents=[_common_options(top_level=False)])
        else:
            sub.add_parser(name, help=text, add_help=False)
    return parser


def setup_logging(verbose: int = 0, quiet: int = 0, logfile: Path | None = None) -> None:
    """Configure the ``mspectmol`` logger: stderr at a level set by ``-v``/``-q``, plus a file."""
    level = logging.INFO + 10 * (quiet - verbose)
    level = min(max(level, logging.DEBUG), logging.CRITICAL)
    log.handlers.clear()
    log.setLevel(logging.DEBUG)
    log.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log.addHandler(console)
    if logfile is not None:
        logfile.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(logfile, encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(fh)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input or usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_of(argv)
    parser = build_parser([command] if command in COMMANDS else [])
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet, args.logfile)
    for message in deprecation_messages(args):
        log.warning("%s", message)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except MspectmolError as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``mspectmol ... | head``): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for handler in list(log.handlers):
            handler.flush()
            if isinstance(handler, logging.FileHandler):
                handler.close()
                log.removeHandler(handler)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
