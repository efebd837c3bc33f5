"""mspectmol: functional groups, structures and conformations from several spectra at once."""

__version__ = "0.1.0"
