"""Decoder for the compressed JCAMP-DX ordinate forms (ASDF: SQZ, DIF and DUP).

The JCAMP-DX specification (McDonald and Wilks, Appl. Spectrosc. 42, 151, 1988; section 5)
encodes ordinates with pseudo-digits: SQZ characters (``@A-I``, ``a-i``) start an absolute
value and carry its first digit and sign, DIF characters (``%J-R``, ``j-r``) start a
difference from the previous value, and DUP characters (``S-Z``, ``s``) repeat the previous
value (or difference) so that it occurs that many times in total. When a line ends in DIF
form, the next line repeats its last ordinate as a check value after the abscissa.

mspectmol decodes these forms itself: version 1.3 of the ``jcamp`` package resets its
difference flag before storing a pending DIF value when a SQZ character or a space follows,
which turns valid lines such as ``100 A0JTB`` into wrong numbers without an error.
Uncompressed (AFFN/PAC) data is read with the ``jcamp`` package.

Decoding is bounded: a repeat count is checked against the values still allowed
(``max_values``, at most :data:`~mspectmol.spectra.readers.base.MAX_POINTS`) before it
is expanded, so a count such as ``s99999999999`` in a 3 KB file is an error, not a
memory exhaustion.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator

from mspectmol.spectra.readers.base import MAX_POINTS, clip

SQZ_DIGITS = {"@": 0, **{c: i for i, c in enumerate("ABCDEFGHI", 1)},
              **{c: -i for i, c in enumerate("abcdefghi", 1)}}
DIF_DIGITS = {"%": 0, **{c: i for i, c in enumerate("JKLMNOPQR", 1)},
              **{c: -i for i, c in enumerate("jklmnopqr", 1)}}
DUP_DIGITS = {**{c: i for i, c in enumerate("STUVWXYZ", 1)}, "s": 9}

#: AFFN numbers, including exponents, as the uncompressed forms write them.
_AFFN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_AFFN_SEPARATORS = " \t\r\n\v\f,;"
_PSEUDO = set(SQZ_DIGITS) | set(DIF_DIGITS) | set(DUP_DIGITS)
#: One value: a pseudo-digit, sign, digit or point, then digits and points.
_TOKEN = re.compile(r"([@A-Ia-i%J-Rj-rS-Zs+\-0-9.])([0-9.]*)")
_SKIP = re.compile(r"[ \t,;]*")
#: Digits of a repeat count beyond which it is certainly too large (not parsed).
_DUP_DIGITS_MAX = 15


class TooManyValuesError(ValueError):
    """Decoding would make more values than allowed; ``what`` names the cause."""

    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        super().__init__(f"{what} makes more than {limit} values")


def is_compressed(line: str) -> bool:
    """True when a data line uses SQZ, DIF or DUP pseudo-digits.

    AFFN numbers (with exponents such as ``1.5E-3``) are removed first, so the letters
    ``E``/``e`` of an exponent are not mistaken for SQZ digits.
    """
    rest = _AFFN_NUMBER.sub(" ", line)
    return any(c in _PSEUDO for c in rest)


def affn_count(line: str) -> int | None:
    """How many AFFN numbers a line holds; ``None`` when it holds anything else.

    Linear in the line length (a single regular expression for the whole line would
    backtrack exponentially on a long run of digits followed by a letter).
    """
    rest, count = _AFFN_NUMBER.subn("", line)
    return count if count and not rest.strip(_AFFN_SEPARATORS) else None


def _dup_count(text: str) -> int:
    """A repeat count; counts of more than 15 digits come back as 10**15."""
    digits = text.replace(".", "")
    return 10 ** _DUP_DIGITS_MAX if len(digits) > _DUP_DIGITS_MAX else int(digits or 0)


def count_values(line: str) -> int:
    """An upper bound of the values a compressed or AFFN line decodes to, read cheaply.

    Repeat counts are read, not expanded; characters outside the forms are skipped. Used
    to check data before a third-party parser (nmrglue) expands it without limits.
    """
    total = 0
    for match in _TOKEN.finditer(line):
        lead, digits = match.groups()
        total += _dup_count(str(DUP_DIGITS[lead]) + digits) if lead in DUP_DIGITS else 1
    return total


def _tokens(line: str) -> Iterator[tuple[str, str, str]]:
    """Yield ``(kind, number_text, as_written)`` of a compressed line; kind is abs, dif or dup."""
    pos, n = 0, len(line)
    while True:
        pos = _SKIP.match(line, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            return
        match = _TOKEN.match(line, pos)
        if match is None:
            raise ValueError(f"unexpected character {line[pos]!r} in compressed data")
        lead, digits = match.groups()
        if lead in SQZ_DIGITS:
            kind, text = "abs", str(SQZ_DIGITS[lead]) + digits
        elif lead in DIF_DIGITS:
            kind, text = "dif", str(DIF_DIGITS[lead]) + digits
        elif lead in DUP_DIGITS:
            kind, text = "dup", str(DUP_DIGITS[lead]) + digits
        else:
            kind, text = "abs", lead + digits
        if text in ("+", "-", ".", "+.", "-."):
            raise ValueError(f"incomplete number {text!r} in compressed data")
        pos = match.end()
        yield kind, text, match.group(0)


def decode_line(line: str, max_values: int | None = None) -> tuple[list[float], bool]:
    """Decode one compressed data line.

    Parameters
    ----------
    line
        A data line: abscissa first, then ordinates in any mix of AFFN, SQZ, DIF and DUP.
    max_values
        Most values the line may decode to (abscissa and check value included); default
        :data:`~mspectmol.spectra.readers.base.MAX_POINTS` + 2. Repeat counts are checked
        against it before they are expanded.

    Returns
    -------
    values
        The abscissa followed by the ordinates, as written (check value included).
    ends_in_dif
        True when the last ordinate was written as a difference (the next line then
        starts with a check value).

    Raises
    ------
    TooManyValuesError
        When the line decodes to more than ``max_values`` values (a :class:`ValueError`).
    ValueError
        On characters outside the forms, a DIF or DUP without a preceding value, or a DUP
        count below 1.
    """
    limit = MAX_POINTS + 2 if max_values is None else max_values
    values: list[float] = []
    last_kind: str | None = None
    last_step = 0.0
    for kind, text, written in _tokens(line):
        if kind == "dup":
            count = _dup_count(text)
            if last_kind is None or len(values) < 2 or count < 1:
                raise ValueError(f"invalid repeat count (DUP) {clip(text)!r}")
            if len(values) + count - 1 > limit:
                raise TooManyValuesError(f"the repeat count (DUP) {clip(written)!r}", limit)
            if last_kind == "dif":
                for _ in range(count - 1):
                    values.append(values[-1] + last_step)
            else:
                values.extend([values[-1]] * (count - 1))
            continue
        if len(values) >= limit:
            raise TooManyValuesError("the data", limit)
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{clip(written)!r} is not a number") from None
        if kind == "abs":
            values.append(number)
            last_kind, last_step = "abs", 0.0
        else:
            if len(values) < 2:
                raise ValueError("difference (DIF) value without a preceding ordinate")
            last_step = number
            values.append(values[-1] + last_step)
            last_kind = "dif"
    return values, last_kind == "dif"


def decode_xydata(lines: Iterable[tuple[int, str]], first_x: float, delta_x: float,
                  x_factor: float = 1.0, max_values: int | None = None
                  ) -> tuple[array, list[str]]:
    """Decode the data lines of an ``(X++(Y..Y))`` table in compressed form.

    Parameters
    ----------
    lines
        ``(line_number, text)`` of each data line.
    first_x, delta_x
        Abscissa of the first point and the step (from ``##FIRSTX``, ``##LASTX`` and
        ``##NPOINTS``), in real units.
    x_factor
        ``##XFACTOR``: the abscissae on the lines times this factor are real units.
    max_values
        Most ordinates decoded (default
        :data:`~mspectmol.spectra.readers.base.MAX_POINTS`); decoding stops with an error
        as soon as a line, or a repeat count on it, would go beyond.

    Returns
    -------
    ordinates
        The ordinates in file units (``##YFACTOR`` not applied), check values removed,
        as an ``array("d")``.
    warnings
        X-check mismatches (the abscissa of a line far from the expected one).

    Raises
    ------
    TooManyValuesError
        With the line number, when the data decodes to more than ``max_values`` ordinates.
    ValueError
        With the line number, on undecodable lines and failed Y-checks (a check value
        different from the last ordinate of the previous line, i.e. corrupt data).
    """
    limit = MAX_POINTS if max_values is None else max_values
    ys = array("d")
    warnings: list[str] = []
    check_next = False
    tol_x = 2.0 * abs(delta_x) + abs(x_factor)
    for number, text in lines:
        allowed = limit - len(ys) + 1 + (1 if check_next and ys else 0)
        try:
            values, ends_in_dif = decode_line(text, allowed)
        except TooManyValuesError as exc:
            raise TooManyValuesError(f"line {number}: {exc.what}", limit) from None
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if len(values) < 2:
            raise ValueError(f"line {number}: a data line needs an abscissa and ordinates")
        x_line, ords = values[0] * x_factor, values[1:]
        index = len(ys)
        if check_next and ys:
            if abs(ords[0] - ys[-1]) > 1e-9 * max(1.0, abs(ys[-1])):
                raise ValueError(
                    f"line {number}: Y-check failed (check value {ords[0]:g}, previous "
                    f"line ended with {ys[-1]:g}); the compressed data is corrupt")
            ords = ords[1:]
            index -= 1
        expected = first_x + index * delta_x
        if abs(x_line - expected) > tol_x:
            warnings.append(f"line {number}: X-check: abscissa {x_line:g}, expected {expected:g}")
        ys.extend(ords)
        check_next = ends_in_dif
    return ys, warnings
