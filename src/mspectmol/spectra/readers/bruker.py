"""Reader for Bruker *processed* 1D NMR data (TopSpin ``pdata`` folders), through nmrglue.

A Bruker experiment folder holds the acquisition parameters (``acqus``), the FID and one
or more processed spectra under ``pdata/<n>/`` (the real part ``1r`` and the processing
parameters ``procs``). :func:`read_bruker` accepts the experiment folder (``pdata/1`` is
read, or the lowest-numbered ``pdata`` folder when there is no ``1``) or a ``pdata/<n>``
folder itself (``acqus`` is then looked for two levels up).

The binary ``1r`` is read with ``nmrglue.bruker.read_pdata`` (endianness, integer/float
storage and the ``NC_proc`` scaling come from ``procs``). The chemical-shift axis comes
from ``procs``: ``OFFSET`` is the shift (ppm) of the first point and the points are
``SW_p / SF / SI`` ppm apart, descending (``SW_p`` in Hz, ``SF`` in MHz). The nucleus
(``acqus`` ``NUC1``, else ``procs`` ``AXNUC``) tells the modality: ``1H`` -> ``h_nmr``,
``13C`` -> ``c_nmr``.

Input is bounded: ``SI`` above :data:`~mspectmol.spectra.readers.base.MAX_POINTS` and
parameter files over :data:`MAX_PARAM_BYTES` are refused before they are read.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumFileError, UnknownModalityError
from mspectmol.spectra.readers.base import (
    MAX_POINTS,
    PathArg,
    access_problem,
    build_spectrum,
    check_file,
    nucleus_modality,
    resolve_modality,
)
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import Spectrum

_ND_FILES = ("2rr", "3rrr", "proc2s", "proc3s")
#: Largest ``acqus``/``procs`` file read (real ones hold tens of KB): 16 MiB.
MAX_PARAM_BYTES = 1 << 24
#: Most of a ``title`` file read.
_TITLE_BYTES = 1 << 16


def is_bruker_dir(path: Path) -> bool:
    """True for a Bruker experiment folder (``acqus`` + ``pdata/``) or a processed-data
    folder (``1r`` + ``procs``, or the ``2rr`` of 2D data with its ``procs``)."""
    if not path.is_dir():
        return False
    if (path / "acqus").is_file() and (path / "pdata").is_dir():
        return True
    return (path / "procs").is_file() and any((path / f).is_file() for f in ("1r", "2rr"))


def _pdata_folder(folder: Path) -> Path:
    """The processed-data folder to read for ``folder`` (experiment or ``pdata/<n>``)."""
    if (folder / "procs").is_file() or (folder / "1r").is_file() or (folder / "2rr").is_file():
        return folder
    pdata = folder / "pdata"
    if not pdata.is_dir():
        raise SpectrumFileError("not a Bruker data folder: no pdata/ folder and no 1r/procs "
                                "files", folder)
    numbered = sorted((p for p in pdata.iterdir() if p.is_dir() and p.name.isdigit()),
                      key=lambda p: int(p.name))
    if not numbered:
        raise SpectrumFileError("pdata/ holds no processed spectrum folder (pdata/1, ...); "
                                "process the FID (Fourier transform) in TopSpin first", folder)
    chosen = pdata / "1"
    return chosen if chosen.is_dir() else numbered[0]


def _read_params(path: Path, what: str) -> dict[str, Any]:
    from nmrglue.fileio import bruker

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SpectrumFileError(f"{what} parameter file: {access_problem(path, exc)}",
                                path) from None
    if size > MAX_PARAM_BYTES:
        raise SpectrumFileError(f"the {what} parameter file holds {size:,} bytes, more than "
                                f"{MAX_PARAM_BYTES >> 20} MiB; not a Bruker parameter file",
                                path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bruker.read_jcamp(str(path))
    except OSError as exc:
        raise SpectrumFileError(f"cannot read the {what} parameter file: "
                                f"{access_problem(path, exc)}", path) from None
    except Exception as exc:  # nmrglue fails on malformed parameter files in many ways
        raise SpectrumFileError(f"cannot read the {what} parameter file "
                                f"({type(exc).__name__}: {exc})", path) from None


def _number(params: dict[str, Any], key: str, path: Path, *, positive: bool = False) -> float:
    value = params.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpectrumFileError(f"procs parameter ${key} is missing or not a number "
                                f"({value!r})", path) from None
    if not np.isfinite(number) or (positive and number <= 0):
        raise SpectrumFileError(f"procs parameter ${key}={value!r} is not a "
                                f"{'positive ' if positive else ''}finite number", path)
    return number


def _nucleus(acqus: dict[str, Any], procs: dict[str, Any]) -> str:
    for value in (acqus.get("NUC1"), procs.get("AXNUC")):
        text = str(value or "").strip().strip("<>").strip()
        if text and text.lower() != "off":
            return text
    return ""


def _modality(nucleus: str, requested: str | None, folder: Path) -> str:
    try:
        declared = nucleus_modality(nucleus)
    except UnknownModalityError:
        raise SpectrumFileError(f"NMR of nucleus {nucleus!r} is not supported (only 1H and "
                                "13C)", folder) from None
    return resolve_modality(declared, requested, folder,
                            hint="no NUC1 in acqus and no AXNUC in procs")


def _check_1d(pdata: Path) -> None:
    found = [f for f in _ND_FILES if (pdata / f).is_file()]
    if found:
        raise SpectrumFileError(f"multidimensional (2D/3D) processed data ({', '.join(found)}"
                                "); only 1D spectra are supported", pdata)
    if not (pdata / "1r").is_file():
        raise SpectrumFileError("no 1r file (the processed real spectrum); process the FID "
                                "(Fourier transform) in TopSpin first", pdata)
    if not (pdata / "procs").is_file():
        raise SpectrumFileError("no procs file (processing parameters) next to 1r", pdata)


def _read_1r(pdata: Path, procs: dict[str, Any]) -> np.ndarray:
    from nmrglue.fileio import bruker

    size = int(_number(procs, "SI", pdata / "procs", positive=True))
    if size > MAX_POINTS:
        raise SpectrumFileError(f"procs says SI={size} points, more than the {MAX_POINTS:,} "
                                "mspectmol reads in one spectrum", pdata / "procs")
    itemsize = 8 if procs.get("DTYPP") == 2 else 4
    stored = (pdata / "1r").stat().st_size
    if stored != size * itemsize:
        raise SpectrumFileError(f"1r holds {stored} bytes but procs says SI={size} points "
                                f"of {itemsize} bytes ({size * itemsize} bytes): truncated "
                                "or corrupt data", pdata / "1r")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, data = bruker.read_pdata(str(pdata), read_acqus=False, shape=(size,),
                                        submatrix_shape=(size,))
    except Exception as exc:  # nmrglue fails on malformed files in many ways
        raise SpectrumFileError(f"nmrglue cannot read the processed data "
                                f"({type(exc).__name__}: {exc})", pdata) from None
    y = np.asarray(data, dtype=float).reshape(-1)
    if y.size != size:
        raise SpectrumFileError(f"1r holds {y.size} points but procs says SI={size}", pdata)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise SpectrumFileError(f"1r holds {bad.size} NaN or infinite values (first at "
                                f"point {int(bad[0])})", pdata / "1r")
    return y


def read_bruker(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Yield the processed 1D spectrum of a Bruker experiment or ``pdata/<n>`` folder.

    Parameters
    ----------
    path
        The experiment folder (holding ``acqus`` and ``pdata/``) or a processed-data
        folder ``pdata/<n>`` (holding ``1r`` and ``procs``).
    modality
        Expected modality (``"h_nmr"`` or ``"c_nmr"``): used when the data does not name
        its nucleus, an error when it names the other one.

    Yields
    ------
    Spectrum
        One spectrum: ``x`` in ppm (descending, as stored), ``y`` the scaled real
        intensities (arbitrary units); ``metadata`` holds ``observe_mhz`` (``SF``),
        ``nucleus``, ``solvent`` (when ``acqus`` has one), ``pdata`` (the folder read)
        and ``experiment``.

    Raises
    ------
    SpectrumFileError
        A missing folder, no ``1r``/``procs``, 2D/3D data, a truncated ``1r`` (size other
        than ``SI`` points), NaN values, missing axis parameters, a nucleus other than 1H
        and 13C, or a modality conflicting with the nucleus.
    """
    folder = check_file(path, allow_dir=True)
    if not folder.is_dir():
        raise SpectrumFileError("not a folder; a Bruker experiment or pdata/<n> folder is "
                                "needed", folder)
    pdata = _pdata_folder(folder)
    _check_1d(pdata)
    procs = _read_params(pdata / "procs", "procs")
    experiment = pdata.resolve().parent.parent
    acqus_path = experiment / "acqus"
    acqus = _read_params(acqus_path, "acqus") if acqus_path.is_file() else {}
    nucleus = _nucleus(acqus, procs)
    mod = _modality(nucleus, modality, folder)
    y = _read_1r(pdata, procs)
    offset = _number(procs, "OFFSET", pdata / "procs")
    sw_hz = _number(procs, "SW_p", pdata / "procs", positive=True)
    sf = _number(procs, "SF", pdata / "procs", positive=True)
    x = offset - np.arange(y.size) * (sw_hz / sf / y.size)
    meta: dict[str, Any] = {"format": "bruker", "pdata": str(pdata),
                            "observe_mhz": sf}
    if nucleus:
        meta["nucleus"] = nucleus
    if acqus:
        meta["experiment"] = str(experiment)
    solvent = str(acqus.get("SOLVENT", "") or "").strip().strip("<>").strip()
    if solvent:
        meta["solvent"] = solvent
    title = pdata / "title"
    if title.is_file():
        try:
            with title.open("rb") as handle:
                text = handle.read(_TITLE_BYTES).decode("utf-8", "replace").strip()
        except OSError:
            text = ""  # an unreadable title is no reason to refuse the spectrum
        if text:
            meta["title"] = re.sub(r"\s+", " ", text)
    yield build_spectrum(x, y, mod, x_unit="ppm", y_unit="arbitrary", metadata=meta,
                         source=folder, kind="profile", where=pdata.name)


def sniff_bruker(probe: Probe) -> bool:
    """An experiment folder (``acqus`` + ``pdata/``) or a processed-data folder."""
    return is_bruker_dir(probe.path)


FORMAT = FormatSpec(
    "bruker", read_bruker, "Bruker 1D NMR folder",
    "Bruker processed 1D NMR: an experiment folder (acqus + pdata/) or its pdata/<n> folder "
    "(1r + procs), read through nmrglue", containers=("folder",), aliases=("bruker-pdata",),
    sniff=sniff_bruker, modalities=("h_nmr", "c_nmr"))
