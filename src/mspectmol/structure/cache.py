"""Where the structure tools cache what they compute once: simulated candidate spectra, the
QM9 isomer index and the generator's training corpus.

Everything lives under ``$MSPECTMOL_CACHE``, else ``$XDG_CACHE_HOME/mspectmol`` (by default
``~/.cache/mspectmol``), one folder per kind.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$MSPECTMOL_CACHE``, else ``$XDG_CACHE_HOME/mspectmol`` (``~/.cache/mspectmol``)."""
    root = os.environ.get("MSPECTMOL_CACHE")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mspectmol")
    return Path(root)


def cache_dir() -> Path:
    """Where simulated candidate spectra are cached: :func:`cache_root` ``/simulated``."""
    return cache_root() / "simulated"
