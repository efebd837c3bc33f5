"""Spectrum file readers behind one dispatcher and one registry of formats.

:func:`read_spectra` streams the spectra of any supported file and :func:`read_spectrum`
reads a file that holds exactly one. The formats are registered in
:mod:`~mspectmol.spectra.readers.formats` (each reader module declares its
:class:`FormatSpec`); :func:`format_help` and :func:`format_table_markdown` describe them::

    >>> from mspectmol.spectra.readers import format_names
    >>> format_names()[:3]
    ('jcamp', 'delimited', 'bruker')

A new format is a reader module ending in ``FORMAT = FormatSpec(...)`` plus one entry in
:data:`~mspectmol.spectra.readers.formats.BUILT_IN`, or :func:`register_format` from outside.
"""

from mspectmol.spectra.readers.alberts import (
    ALBERTS_AXES,
    ALBERTS_COLUMNS,
    AlbertsParquet,
    read_alberts,
)
from mspectmol.spectra.readers.bruker import read_bruker
from mspectmol.spectra.readers.delimited import read_delimited
from mspectmol.spectra.readers.dispatch import detect_format, read_spectra, read_spectrum
from mspectmol.spectra.readers.formats import (
    format_help,
    format_list,
    format_names,
    format_table_markdown,
    formats,
    get_format,
    register_format,
    unregister_format,
)
from mspectmol.spectra.readers.grid import GridTable, read_grid, read_grid_parquet
from mspectmol.spectra.readers.jcamp import read_jcamp
from mspectmol.spectra.readers.mgf import read_mgf
from mspectmol.spectra.readers.msp import read_msp
from mspectmol.spectra.readers.qm9s import QM9S_AXES, read_qm9s, read_qm9s_matrix
from mspectmol.spectra.readers.spec import FormatSpec, Probe

__all__ = [
    "ALBERTS_AXES", "ALBERTS_COLUMNS", "AlbertsParquet", "FormatSpec", "GridTable", "Probe",
    "QM9S_AXES", "detect_format", "format_help", "format_list", "format_names",
    "format_table_markdown", "formats", "get_format", "read_alberts", "read_bruker",
    "read_delimited", "read_grid", "read_grid_parquet", "read_jcamp", "read_mgf", "read_msp",
    "read_qm9s", "read_qm9s_matrix", "read_spectra", "read_spectrum", "register_format",
    "unregister_format",
]
