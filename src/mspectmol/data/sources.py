"""Real molecules from sources that install from the package registries.

Used by the dataset builder (``scripts/build_dataset.py``), not at run time:

* **QM9** (CC0) through the ``qm9pack`` wheel (MIT), whose CSV files hold all 130,831 QM9
  molecules with SMILES, B3LYP/6-31G(2df,p) geometries and harmonic frequencies. The CSVs are
  read directly: ``qm9pack``'s own loader needs ``pkg_resources``.
* **NCI** 5,000 SMILES shipped with RDKit (``RDConfig.RDDataDir/NCI/first_5K.smi``).
* **MOSES** (MIT; drug-like ZINC subset) SMILES inside the ``molsets`` wheel, which does not
  install here; the wheel is fetched with ``pip download`` into a cache folder and its
  ``moses/dataset/data/*.csv.gz`` files are read without installing it.
"""

from __future__ import annotations

import ast
import csv
import gzip
import importlib.util
import io
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mspectmol.errors import MspectmolError

csv.field_size_limit(10**8)


@dataclass(frozen=True)
class QM9Molecule:
    """One QM9 entry: index, SMILES, elements, DFT geometry (Angstrom), harmonic frequencies."""

    index: int
    smiles: str
    inchi: str
    elements: tuple[str, ...]
    coords: np.ndarray
    harmonic_freqs: np.ndarray


def qm9pack_files() -> list[Path]:
    """The QM9 CSV files inside the installed ``qm9pack`` package."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or spec.origin is None:
        raise MspectmolError("the qm9pack package is not installed: pip install qm9pack")
    data = Path(spec.origin).parent / "data"
    files = sorted(data.glob("qm9_part*.csv"))
    if not files:
        raise MspectmolError(f"{data}: no qm9_part*.csv files in the qm9pack package")
    return files


def iter_qm9(files: list[Path] | None = None) -> Iterator[QM9Molecule]:
    """Stream QM9 molecules from the qm9pack CSV files, in index order."""
    for path in files or qm9pack_files():
        with path.open(newline="", encoding="utf-8") as fh:
            for line_no, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    yield QM9Molecule(
                        index=int(row["Index"]),
                        smiles=row["SMILES"],
                        inchi=row["InChi"],
                        elements=tuple(ast.literal_eval(row["Elements"])),
                        coords=_numbers(row["XYZ_Ang"]).reshape(-1, 3),
                        harmonic_freqs=_numbers(row["Harmonic_Freq_cmi"]),
                    )
                except (KeyError, ValueError, SyntaxError) as exc:
                    raise MspectmolError(f"{path}, line {line_no}: malformed QM9 row ({exc})"
                                         ) from None


def _numbers(text: str) -> np.ndarray:
    """Numbers of a (nested) list literal such as ``[[0.5,0.,1.],...]`` (``0.`` is not JSON)."""
    flat = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
    return np.asarray(flat, dtype=np.float64)


def sample_qm9(n: int, seed: int, files: list[Path] | None = None) -> list[QM9Molecule]:
    """Draw ``n`` QM9 molecules uniformly at random (fixed seed), streaming the CSVs once."""
    indices = [m_index for m_index in _qm9_indices(files)]
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(np.asarray(indices), size=min(n, len(indices)),
                            replace=False).tolist())
    return [m for m in iter_qm9(files) if m.index in chosen]


def _qm9_indices(files: list[Path] | None) -> Iterator[int]:
    for path in files or qm9pack_files():
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            col = header.index("Index")
            for row in reader:
                yield int(row[col])


def nci_smiles() -> list[tuple[str, str]]:
    """(NCI id, SMILES) of the 5,000 NCI molecules shipped with RDKit."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.append((f"NCI{parts[1]}", parts[0]))
    return out


def moses_smiles(cache_dir: Path, split: str = "train") -> list[str]:
    """SMILES of a MOSES split read out of the ``molsets`` wheel (fetched with pip if needed).

    Parameters
    ----------
    cache_dir
        Folder that holds (or will hold) ``molsets-*.whl``.
    split
        ``"train"``, ``"test"`` or ``"test_scaffolds"``.
    """
    wheel = _fetch_wheel(cache_dir, "molsets==0.3.1", "molsets")
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(f"moses/dataset/data/{split}.csv.gz")
    text = gzip.decompress(raw).decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    col = [h.lower() for h in header].index("smiles")
    return [row[col] for row in reader if row]


def _fetch_wheel(cache_dir: Path, requirement: str, prefix: str) -> Path:
    """Path of a cached wheel, fetched with ``pip download --no-deps`` when absent."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache_dir.glob(f"{prefix}-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
               str(cache_dir), requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(cache_dir.glob(f"{prefix}-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise MspectmolError(f"could not fetch {requirement}: {proc.stderr.strip()}")
    return wheels[-1]


def pubchem_chemicals_rows(cache_dir: Path) -> list[list[str]]:
    """The rows of the ~71k-compound PubChem identifier table in the ``chemicals`` wheel
    (tab-separated: PubChem CID, CAS number, formula, molecular weight, SMILES, InChI, ...).

    The ``chemicals`` package (MIT) ships this table (PubChem data are in the public domain);
    it covers small industrial chemistry well: isocyanates, isothiocyanates, acyl halides,
    phosphines, thiols and others that drug-like sets lack.
    """
    wheel = _fetch_wheel(cache_dir, "chemicals==1.5.1", "chemicals")
    member = "chemicals/Identifiers/chemical identifiers pubchem large.tsv"
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(member).decode("utf-8")
    return [line.split("\t") for line in text.splitlines()]


def pubchem_chemicals_smiles(cache_dir: Path) -> list[tuple[str, str]]:
    """(``CAS:<number>``, SMILES) of the PubChem compounds of :func:`pubchem_chemicals_rows`."""
    return [(f"CAS:{cols[1]}", cols[4]) for cols in pubchem_chemicals_rows(cache_dir)
            if len(cols) > 4 and cols[4]]
