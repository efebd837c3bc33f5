"""Spectrum file readers behind one dispatcher.

:func:`read_spectra` streams the spectra of any supported file and :func:`read_spectrum`
reads a file that holds exactly one. Formats (keys of :data:`READERS`):

``jcamp``
    JCAMP-DX (IR, Raman, UV-Vis, NMR, MS; compound files, compressed data, NTUPLES NMR).
``delimited``
    CSV/TSV/whitespace columns with unit headers, or the wide layout mspectmol writes.
``mgf``, ``msp``
    Mass spectral libraries (peak lists).
``alberts-parquet``
    The multimodal dataset of Alberts et al. 2024 (a chunk or a directory of chunks).
``qm9s-csv``
    The broadened IR/Raman/UV-Vis spectra of QM9S.
``mspectmol-parquet``
    Spectra on a grid as :func:`mspectmol.spectra.writers.write_parquet` writes them.
``simulation-parquet``
    ``mspectmol simulate``'s peak lists (IR, Raman, 1H, 13C) of each molecule.
``bruker``
    Bruker processed 1D NMR (1H, 13C): an experiment folder or its ``pdata/<n>`` folder.
"""

from mspectmol.spectra.readers.alberts import (
    ALBERTS_AXES,
    ALBERTS_COLUMNS,
    AlbertsParquet,
    read_alberts,
)
from mspectmol.spectra.readers.bruker import read_bruker
from mspectmol.spectra.readers.delimited import read_delimited
from mspectmol.spectra.readers.dispatch import (
    FORMAT_ALIASES,
    READERS,
    detect_format,
    read_spectra,
    read_spectrum,
)
from mspectmol.spectra.readers.grid import GridTable, read_grid, read_grid_parquet
from mspectmol.spectra.readers.jcamp import read_jcamp
from mspectmol.spectra.readers.mgf import read_mgf
from mspectmol.spectra.readers.msp import read_msp
from mspectmol.spectra.readers.qm9s import QM9S_AXES, read_qm9s, read_qm9s_matrix

__all__ = [
    "ALBERTS_AXES", "ALBERTS_COLUMNS", "AlbertsParquet", "FORMAT_ALIASES", "GridTable",
    "QM9S_AXES", "READERS", "detect_format", "read_alberts", "read_bruker", "read_delimited",
    "read_grid", "read_grid_parquet", "read_jcamp", "read_mgf", "read_msp", "read_qm9s",
    "read_qm9s_matrix", "read_spectra", "read_spectrum",
]
