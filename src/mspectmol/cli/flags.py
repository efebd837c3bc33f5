"""Option conventions shared by the subcommands: hidden deprecated spellings and ``--top``.

Every concept has one flag name across the subcommands (``-o/--output`` for what a command
writes, ``--threads``, ``--top``...). Where a flag was renamed, its old spelling stays
accepted through :func:`add_deprecated_alias`: hidden from ``--help``, it stores into the
new option's destination and :func:`mspectmol.cli.main.main` logs a warning naming the new
spelling once logging is set up.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

#: Namespace attribute listing ``(old, new)`` spellings used on the command line.
DEPRECATED_DEST = "deprecated_flags"

#: ``--top`` values meaning every group (:func:`top_rows` gives 0).
ALL = ("all", "0")


class DeprecatedAlias(argparse.Action):
    """A hidden old spelling of an option; it behaves like ``target`` and is recorded."""

    def __init__(self, option_strings: Sequence[str], dest: str, *,
                 target: argparse.Action, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=target.nargs, const=target.const,
                         default=argparse.SUPPRESS, type=target.type, choices=target.choices,
                         metavar=target.metavar, help=argparse.SUPPRESS)
        self.target = target

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        new = max(self.target.option_strings, key=len)
        self.target(parser, namespace, values, new)
        used = list(getattr(namespace, DEPRECATED_DEST, []))
        setattr(namespace, DEPRECATED_DEST, [*used, (option_string, new)])


def add_deprecated_alias(parser: argparse.ArgumentParser | Any, old: str,
                         target: argparse.Action) -> argparse.Action:
    """Accept ``old`` (e.g. ``--out``) as a hidden, deprecated spelling of ``target``."""
    return parser.add_argument(old, action=DeprecatedAlias, dest=target.dest, target=target)


def deprecation_messages(args: argparse.Namespace) -> list[str]:
    """One message per deprecated spelling the command line used."""
    return [f"{old} is deprecated; use {new}"
            for old, new in getattr(args, DEPRECATED_DEST, [])]


def top_rows(value: str) -> int:
    """``--top`` value: a positive count, or 0 for every row (``0`` or ``all``).

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    text = value.strip().lower()
    if text in ALL:
        return 0
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'all', got {value!r}")
    return count


def add_top_option(parser: argparse.ArgumentParser | Any, default: int | None,
                   what: str) -> argparse.Action:
    """``--top N|all``: how many groups a text report lists, by decreasing probability."""
    return parser.add_argument("--top", type=top_rows, default=default, metavar="N|all",
                               help=f"groups listed, by decreasing probability ({what}; 0 or "
                                    "'all': all of them)")
