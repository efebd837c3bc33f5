"""Checked conversions of settings values (config files, ``--set`` items, options).

Each raises :class:`TypeError` with the value for the wrong kind of value;
:func:`coercer` picks the conversion for a dataclass field's type hint, so a settings class
declares its types once (:class:`mspectmol.training.config.TrainConfig`).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any


def integer(value: Any) -> int:
    """An integer (a float with an integral value too); TypeError for booleans and others."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


def number(value: Any) -> float:
    """A number as a float; TypeError for booleans and others."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def string(value: Any) -> str:
    """A string; TypeError for others."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    """``true`` or ``false``; TypeError for others (1 and "yes" included)."""
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def names(value: Any) -> tuple[str, ...]:
    """A tuple of names from a list of strings or a comma-separated string."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of names, got {value!r}")
    return tuple(value)


def table(value: Any) -> dict[str, Any]:
    """A table (mapping) of settings as a dict."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a table of settings, got {value!r}")
    return dict(value)


_SCALARS: dict[Any, Callable[[Any], Any]] = {int: integer, float: number, str: string,
                                             bool: boolean}


def coercer(hint: Any) -> Callable[[Any], Any]:
    """The checking conversion of a settings value for a field's type hint.

    ``X | None`` accepts None, ``tuple[str, ...]`` a list or a comma-separated string of
    names, ``dict`` a table; ``int``, ``float``, ``str`` and ``bool`` are checked strictly.
    """
    args = typing.get_args(hint)
    if type(None) in args:
        (inner,) = (coercer(a) for a in args if a is not type(None))
        return lambda value: None if value is None else inner(value)
    origin = typing.get_origin(hint)
    if origin is tuple:
        return names
    if origin is dict:
        return table
    return _SCALARS[hint]
