"""The one list of spectrum file formats, and the texts generated from it.

Each reader module ends with ``FORMAT = FormatSpec(...)``
(:class:`~mspectmol.spectra.readers.spec.FormatSpec`); :data:`BUILT_IN` registers them.
Detection (:mod:`~mspectmol.spectra.readers.dispatch`), the ``format=`` names, the
command-line help of ``convert`` and ``predict``, the web page's list of accepted files
(:func:`format_list`) and the README's table (:func:`format_table_markdown`) all read this
registry, so adding a format takes its reader module and one entry in :data:`BUILT_IN` (or a
:func:`register_format` call from outside the package).

Order matters only among formats of one container: the ``sniff`` functions of parquet
formats are asked in registration order (so the Alberts et al. layout, which accepts any
parquet file with its columns, comes after the two mspectmol layouts), as are those of text
formats and of folders.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers import (
    alberts,
    bruker,
    delimited,
    grid,
    jcamp,
    mgf,
    msp,
    qm9s,
    simulated,
)
from mspectmol.spectra.readers.base import PathArg
from mspectmol.spectra.readers.spec import FormatSpec

#: The formats mspectmol reads, in the order listed in help texts.
BUILT_IN: tuple[FormatSpec, ...] = (
    jcamp.FORMAT, delimited.FORMAT, bruker.FORMAT, mgf.FORMAT, msp.FORMAT, grid.FORMAT,
    simulated.FORMAT, alberts.FORMAT, qm9s.FORMAT,
)

_FORMATS: dict[str, FormatSpec] = {}


def register_format(spec: FormatSpec, *, replace: bool = False) -> FormatSpec:
    """Add ``spec`` to the registry (after the formats already there) and return it.

    Raises
    ------
    ValueError
        When its name or an alias is another format's name or alias, or one of its text
        extensions is claimed by another text format (unless ``replace`` and the other
        format has the same name, which is then replaced).
    """
    others = [s for s in _FORMATS.values() if not (replace and s.name == spec.name)]
    taken = {n: s.name for s in others for n in (s.name, *s.aliases)}
    clash = [n for n in (spec.name, *spec.aliases) if n in taken]
    if clash:
        raise ValueError(f"format {spec.name!r}: {', '.join(clash)} already names format "
                         f"{taken[clash[0]]!r}")
    if "text" in spec.containers:
        claimed = {e: s.name for s in others if "text" in s.containers for e in s.extensions}
        double = [e for e in spec.extensions if e in claimed]
        if double:
            raise ValueError(f"format {spec.name!r}: extension {double[0]} belongs to format "
                             f"{claimed[double[0]]!r}")
    _FORMATS.pop(spec.name, None)
    _FORMATS[spec.name] = spec
    return spec


def unregister_format(name: str) -> None:
    """Remove a registration (e.g. one a test made); unknown names are ignored."""
    _FORMATS.pop(name, None)


def formats(*, container: str | None = None, dataset: bool | None = None
            ) -> tuple[FormatSpec, ...]:
    """The registered formats in order, optionally only those of one container or kind.

    Parameters
    ----------
    container
        ``"text"``, ``"parquet"`` or ``"folder"``: formats whose data may live in one.
    dataset
        True: only dataset formats; False: only formats of one sample's spectra.
    """
    return tuple(s for s in _FORMATS.values()
                 if (container is None or container in s.containers)
                 and (dataset is None or s.dataset == dataset))


def format_names() -> tuple[str, ...]:
    """The registered format names, in order."""
    return tuple(_FORMATS)


def get_format(name: str, path: PathArg | None = None) -> FormatSpec:
    """The format called ``name`` or one of its aliases (any case).

    Raises
    ------
    SpectrumFileError
        For an unknown name, listing the known ones (naming ``path`` when given).
    """
    key = name.strip().lower()
    for spec in _FORMATS.values():
        if key == spec.name or key in spec.aliases:
            return spec
    raise SpectrumFileError(f"unknown format {name!r}; known formats: "
                            f"{', '.join(format_names())}", path)


def format_for_extension(suffix: str) -> FormatSpec | None:
    """The text format that claims a file extension (``".jdx"``), if any."""
    key = suffix.lower()
    return next((s for s in formats(container="text") if key in s.extensions), None)


def _extensions(spec: FormatSpec) -> str:
    """``".jdx, .dx"``; ``"a folder"`` or ``"by content"`` for formats without extensions."""
    if spec.extensions:
        return ", ".join(spec.extensions)
    return "a folder" if "folder" in spec.containers else "by content"


def format_list(specs: Iterable[FormatSpec] | None = None) -> str:
    """``"JCAMP-DX (.jdx, .dx, ...), CSV/TSV/text columns (.csv, ...), ..."``: one line."""
    chosen = formats() if specs is None else tuple(specs)
    return ", ".join(f"{s.title} ({_extensions(s)})" for s in chosen)


def format_help(specs: Iterable[FormatSpec] | None = None, width: int = 79) -> str:
    """An indented entry per format: its names and extensions, then what it holds (for
    ``--help`` texts that keep their line breaks)."""
    chosen = formats() if specs is None else tuple(specs)
    lines = []
    for s in chosen:
        also = f" (also {', '.join(s.aliases)})" if s.aliases else ""
        lines += textwrap.wrap(f"{s.name}{also}: {s.title}, {_extensions(s)}", width,
                               initial_indent="  ", subsequent_indent=" " * 6)
        lines += textwrap.wrap(s.description, width, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)
    return "\n".join(lines)


def _modality_labels(spec: FormatSpec) -> str:
    """``"IR, 1H NMR"``: the modalities' labels without their TeX markup."""
    return ", ".join("".join(ch for ch in get_modality(m).label if ch not in "${}^")
                     for m in spec.modalities)


def format_table_markdown() -> str:
    """The README's table of accepted formats (markdown), generated from the registry.

    Columns: the name for ``--input-format``/``format=`` (and its other names), the format,
    extensions, the modalities its files hold, and what it is. The format of a file is
    told by its content first and by its extension otherwise.
    """
    lines = ["| name (`--input-format`) | format | extensions | spectra | what it holds |",
             "|---|---|---|---|---|"]
    for s in formats():
        names = f"`{s.name}`" + "".join(f", `{a}`" for a in s.aliases)
        where = ", ".join(f"`{e}`" for e in s.extensions) or _extensions(s)
        what = s.description + (" (a dataset: `convert` and Python)" if s.dataset else "")
        lines.append(f"| {names} | {s.title} | {where} | {_modality_labels(s)} | {what} |")
    return "\n".join(lines) + "\n"


for _spec in BUILT_IN:
    register_format(_spec)
