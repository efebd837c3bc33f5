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
"""

from __future__ import annotations

import re

SQZ_DIGITS = {"@": 0, **{c: i for i, c in enumerate("ABCDEFGHI", 1)},
              **{c: -i for i, c in enumerate("abcdefghi", 1)}}
DIF_DIGITS = {"%": 0, **{c: i for i, c in enumerate("JKLMNOPQR", 1)},
              **{c: -i for i, c in enumerate("jklmnopqr", 1)}}
DUP_DIGITS = {**{c: i for i, c in enumerate("STUVWXYZ", 1)}, "s": 9}

_SEPARATORS = " \t,;"
_NUMBER_CHARS = "0123456789."
#: AFFN numbers, including exponents, as the uncompressed forms write them.
_AFFN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_PSEUDO = set(SQZ_DIGITS) | set(DIF_DIGITS) | set(DUP_DIGITS)


def is_compressed(line: str) -> bool:
    """True when a data line uses SQZ, DIF or DUP pseudo-digits.

    AFFN numbers (with exponents such as ``1.5E-3``) are removed first, so the letters
    ``E``/``e`` of an exponent are not mistaken for SQZ digits.
    """
    rest = _AFFN_NUMBER.sub(" ", line)
    return any(c in _PSEUDO for c in rest)


def _tokens(line: str) -> list[tuple[str, str]]:
    """Split a compressed line into ``(kind, number_text)``; kind is abs, dif or dup."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in _SEPARATORS:
            i += 1
            continue
        if c in SQZ_DIGITS:
            kind, text = "abs", str(SQZ_DIGITS[c])
        elif c in DIF_DIGITS:
            kind, text = "dif", str(DIF_DIGITS[c])
        elif c in DUP_DIGITS:
            kind, text = "dup", str(DUP_DIGITS[c])
        elif c in "+-" or c in _NUMBER_CHARS:
            kind, text = "abs", c
        else:
            raise ValueError(f"unexpected character {c!r} in compressed data")
        i += 1
        while i < n and line[i] in _NUMBER_CHARS:
            text += line[i]
            i += 1
        if text in ("+", "-", ".", "+.", "-."):
            raise ValueError(f"incomplete number {text!r} in compressed data")
        out.append((kind, text))
    return out


def decode_line(line: str) -> tuple[list[float], bool]:
    """Decode one compressed data line.

    Parameters
    ----------
    line
        A data line: abscissa first, then ordinates in any mix of AFFN, SQZ, DIF and DUP.

    Returns
    -------
    values
        The abscissa followed by the ordinates, as written (check value included).
    ends_in_dif
        True when the last ordinate was written as a difference (the next line then
        starts with a check value).

    Raises
    ------
    ValueError
        On characters outside the forms, a DIF or DUP without a preceding value, or a DUP
        count below 1.
    """
    values: list[float] = []
    last_kind: str | None = None
    last_step = 0.0
    for kind, text in _tokens(line):
        if kind == "abs":
            values.append(float(text))
            last_kind, last_step = "abs", 0.0
        elif kind == "dif":
            if len(values) < 2:
                raise ValueError("difference (DIF) value without a preceding ordinate")
            last_step = float(text)
            values.append(values[-1] + last_step)
            last_kind = "dif"
        else:
            count = int(text)
            if last_kind is None or len(values) < 2 or count < 1:
                raise ValueError(f"invalid repeat count (DUP) {text!r}")
            for _ in range(count - 1):
                values.append(values[-1] + last_step if last_kind == "dif" else values[-1])
    return values, last_kind == "dif"


def decode_xydata(lines: list[tuple[int, str]], first_x: float, delta_x: float,
                  x_factor: float = 1.0) -> tuple[list[float], list[str]]:
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

    Returns
    -------
    ordinates
        The ordinates in file units (``##YFACTOR`` not applied), check values removed.
    warnings
        X-check mismatches (the abscissa of a line far from the expected one).

    Raises
    ------
    ValueError
        With the line number, on undecodable lines and failed Y-checks (a check value
        different from the last ordinate of the previous line, i.e. corrupt data).
    """
    ys: list[float] = []
    warnings: list[str] = []
    check_next = False
    tol_x = 2.0 * abs(delta_x) + abs(x_factor)
    for number, text in lines:
        try:
            values, ends_in_dif = decode_line(text)
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
