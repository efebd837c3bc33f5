"""The embedded dataset: simulated peak lists -> training-ready arrays on 600-point grids.

The dataset ships as parquet chunks of simulation records (``data/embedded/chunks``) and an
index (``data/embedded/index.parquet``: id, canonical SMILES, source, heavy atoms, the 37
labels and the fixed random and scaffold splits). :func:`load_dataset` broadens the peak
lists onto the canonical grids of the requested modalities with the settings of
:data:`BROADENING` and returns arrays ready for training.

Two versions ship: ``v1`` (the default, 6,397 molecules of at most 16 heavy atoms) and
``v2`` (``data/embedded/v2``: v1 plus drug-size molecules of 12-40 heavy atoms). The v2
index covers the molecules of both parts, with v1's random and scaffold splits unchanged and
a stored ``split_size``; its ``chunk_dirs`` metadata names the chunk folders it draws on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.data.splits import SIZE_SPLIT_SEED, size_split
from mspectmol.errors import MspectmolError, UnknownModalityError
from mspectmol.spectra.preprocessing import canonical_grid, line_kernel

EMBEDDED_DIR = Path(__file__).parent / "embedded"
#: Folder of the v2 index (v1 + drug-size molecules) and of the drug-size chunks.
EMBEDDED_V2_DIR = EMBEDDED_DIR / "v2"
#: Dataset versions of :func:`load_dataset` and their folders.
DATASET_VERSIONS = {"v1": EMBEDDED_DIR, "v2": EMBEDDED_V2_DIR}
#: Modalities the embedded dataset simulates.
DATASET_MODALITIES = ("ir", "raman", "h_nmr", "c_nmr")
#: (line shape, FWHM in the canonical unit) used to broaden each modality's peak list.
BROADENING = {
    "ir": ("lorentzian", 15.0),
    "raman": ("lorentzian", 15.0),
    "h_nmr": ("lorentzian", 0.04),
    "c_nmr": ("lorentzian", 1.0),
}
PEAK_COLUMNS = {
    "ir": ("frequencies", "ir_intensities"),
    "raman": ("frequencies", "raman_activities"),
    "h_nmr": ("h_shift", "h_count"),
    "c_nmr": ("c_shift", "c_count"),
}


@dataclass
class EmbeddedDataset:
    """Arrays of the embedded dataset (row ``i`` is molecule ``ids[i]`` everywhere).

    Attributes
    ----------
    ids, smiles, source
        Molecule ids (``qm9-...``/``ext-...``; ``drug-...`` in v2), canonical SMILES and
        source name.
    heavy_atoms
        Heavy-atom counts.
    labels
        ``(n, 37)`` uint8 functional-group labels in :data:`GROUP_NAMES` order.
    spectra
        Modality -> ``(n, n_points)`` float32, each row normalised to maximum 1 (all zero
        when the molecule has no such signal, e.g. no hydrogen).
    grids
        Modality -> the x grid.
    splits
        Split scheme (``"random"``, ``"scaffold"``, and ``"size"``: appendix K's stress split
        of :func:`~mspectmol.data.splits.size_split`, stored in the v2 index and derived from
        the heavy-atom counts for v1) -> array of ``train``/``val``/``test``.
    """

    ids: np.ndarray
    smiles: np.ndarray
    source: np.ndarray
    heavy_atoms: np.ndarray
    labels: np.ndarray
    spectra: dict[str, np.ndarray] = field(default_factory=dict)
    grids: dict[str, np.ndarray] = field(default_factory=dict)
    splits: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def label_names(self) -> tuple[str, ...]:
        return GROUP_NAMES

    def __len__(self) -> int:
        return int(self.ids.size)

    def split_indices(self, scheme: str, part: str) -> np.ndarray:
        """Row indices of ``part`` (train/val/test) under ``scheme`` (random/scaffold)."""
        if scheme not in self.splits:
            if scheme == "size":
                size_split(self.heavy_atoms, SIZE_SPLIT_SEED)  # raises and says why
            raise MspectmolError(f"unknown split {scheme!r}; known: {', '.join(self.splits)}")
        return np.flatnonzero(self.splits[scheme] == part)


def broaden_many(positions: np.ndarray, intensities: np.ndarray, owner: np.ndarray,
                 n_spectra: int, grid: np.ndarray, fwhm: float, shape: str,
                 chunk: int = 8192) -> np.ndarray:
    """Broaden the peaks of many spectra at once.

    Parameters
    ----------
    positions, intensities
        All peaks, concatenated (1-D).
    owner
        Spectrum index of each peak, non-decreasing.
    n_spectra
        Number of spectra (rows of the result).
    grid, fwhm, shape
        As in :func:`mspectmol.spectra.preprocessing.broaden`.

    Returns
    -------
    numpy.ndarray
        ``(n_spectra, grid.size)`` float32 sums of height-normalised lines.
    """
    out = np.zeros((n_spectra, grid.size), dtype=np.float32)
    g = grid.astype(np.float32)[None, :]
    for start in range(0, positions.size, chunk):
        part = slice(start, start + chunk)
        lines = line_kernel(g - positions[part, None].astype(np.float32), np.float32(fwhm),
                            shape) * intensities[part, None].astype(np.float32)
        rows = owner[part]
        firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        out[rows[firsts]] += np.add.reduceat(lines, firsts, axis=0)
    return out


def _lists(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Flattened values and per-row lengths of a list column."""
    col = table.column(column).combine_chunks()
    values = col.flatten().to_numpy(zero_copy_only=False)
    offsets = col.offsets.to_numpy()
    return values, np.diff(offsets)


def _normalise_rows(y: np.ndarray) -> np.ndarray:
    top = y.max(axis=1, keepdims=True)
    np.divide(y, top, out=y, where=top > 0)
    return y


def chunk_dirs(root: Path) -> list[Path]:
    """The chunk folders of the dataset folder ``root``.

    ``root/chunks``, unless ``root/index.parquet`` names its folders in its ``chunk_dirs``
    metadata (a JSON list of paths relative to ``root``), as the v2 index does.
    """
    index = root / "index.parquet"
    meta = (pq.read_schema(index).metadata or {}) if index.is_file() else {}
    if b"chunk_dirs" not in meta:
        return [root / "chunks"]
    return [(root / d).resolve() for d in json.loads(meta[b"chunk_dirs"].decode())]


def read_chunks(path: Path | None = None, columns: Sequence[str] | None = None,
                optional: Sequence[str] = ()) -> pa.Table:
    """All chunk tables of the dataset folder, concatenated (explicit columns).

    Columns only some chunks have (v2's per-atom NMR columns) are null in the others; a
    column of ``columns`` that no chunk has is an error unless it is in ``optional``.
    """
    root = Path(path) if path is not None else EMBEDDED_DIR
    dirs = chunk_dirs(root)
    files = [f for d in dirs for f in sorted(d.glob("*.parquet"))]
    if not files:
        raise MspectmolError(f"{', '.join(map(str, dirs))}: no dataset chunks; build the "
                             "dataset with scripts/build_dataset.py")
    tables, seen = [], set()
    for f in files:
        try:
            names = set(pq.read_schema(f).names)
            tables.append(_read_columns(f, columns, names))
        except (pa.ArrowInvalid, OSError) as exc:
            raise MspectmolError(f"{f}: unreadable dataset chunk ({exc})") from None
        seen |= names
    absent = [c for c in columns or () if c not in seen and c not in optional]
    if absent:
        raise MspectmolError(f"no dataset chunk has the column(s) {', '.join(absent)}")
    return pa.concat_tables(tables, promote_options="default")


def _read_columns(path: Path, columns: Sequence[str] | None, names: set[str]) -> pa.Table:
    """The ``columns`` of one chunk whose columns are ``names``; those it lacks are nulls."""
    if not columns:
        return pq.read_table(path)
    table = pq.read_table(path, columns=[c for c in columns if c in names])
    for c in columns:
        if c not in names:
            table = table.append_column(c, pa.nulls(table.num_rows))
    return table.select(list(columns))


def dataset_dir(version: str = "v1") -> Path:
    """The folder of a shipped dataset version (:data:`DATASET_VERSIONS`)."""
    if version not in DATASET_VERSIONS:
        raise MspectmolError(f"unknown dataset version {version!r}; known: "
                             f"{', '.join(DATASET_VERSIONS)}")
    return DATASET_VERSIONS[version]


def load_dataset(modalities: Sequence[str] = DATASET_MODALITIES, n_points: int = 600, *,
                 path: Path | None = None, version: str = "v1") -> EmbeddedDataset:
    """Load the embedded dataset with each modality broadened onto its canonical grid.

    Parameters
    ----------
    modalities
        Any of ``ir``, ``raman``, ``h_nmr``, ``c_nmr``.
    n_points
        Grid size (the paper's N = 600).
    path
        Dataset folder (default: the folder of ``version`` inside the package).
    version
        ``"v1"`` (the default: every recorded result uses it) or ``"v2"`` (v1 plus the
        drug-size molecules); ignored when ``path`` is given.
    """
    for m in modalities:
        if m not in DATASET_MODALITIES:
            raise UnknownModalityError(f"the embedded dataset has no {m!r} spectra; it has "
                                       f"{', '.join(DATASET_MODALITIES)}")
    root = Path(path) if path is not None else dataset_dir(version)
    index_path = root / "index.parquet"
    if not index_path.is_file():
        raise MspectmolError(f"{index_path}: missing dataset index; run "
                             "scripts/build_dataset.py finalize")
    index = pq.read_table(index_path)
    needed = {"id"} | {c for m in modalities for c in PEAK_COLUMNS[m]}
    table = read_chunks(root, sorted(needed))
    ids = np.asarray(table.column("id").to_pylist())
    order = {k: i for i, k in enumerate(ids)}
    index_ids = index.column("id").to_pylist()
    missing = [k for k in index_ids if k not in order]
    if missing:
        raise MspectmolError(f"{index_path}: {len(missing)} indexed molecules have no record "
                             f"(first: {missing[0]})")
    rows = np.asarray([order[k] for k in index_ids])
    n = len(index_ids)
    ds = EmbeddedDataset(
        ids=np.asarray(index_ids),
        smiles=np.asarray(index.column("smiles").to_pylist()),
        source=np.asarray(index.column("source").to_pylist()),
        heavy_atoms=index.column("heavy_atoms").to_numpy(),
        labels=np.asarray(index.column("labels").to_pylist(), dtype=np.uint8).reshape(n, -1),
        splits={s: np.asarray(index.column(f"split_{s}").to_pylist())
                for s in ("random", "scaffold")},
    )
    # appendix K's stress split: stored in the v2 index, else derived from the heavy-atom
    # counts; left out for a dataset whose molecules all have one size (asking for it then
    # says why)
    if "split_size" in index.column_names:
        ds.splits["size"] = np.asarray(index.column("split_size").to_pylist())
    else:
        try:
            ds.splits["size"] = size_split(ds.heavy_atoms, SIZE_SPLIT_SEED)
        except MspectmolError:
            pass
    inverse = np.empty(len(ids), dtype=np.int64)
    inverse[:] = -1
    inverse[rows] = np.arange(n)
    for m in modalities:
        pos_col, amp_col = PEAK_COLUMNS[m]
        pos, lengths = _lists(table, pos_col)
        amp, _ = _lists(table, amp_col)
        owner = np.repeat(inverse, lengths)
        keep = owner >= 0
        if m in ("ir", "raman"):
            keep &= pos > 0  # imaginary modes are stored as negative wavenumbers
        order_peaks = np.argsort(owner[keep], kind="stable")
        grid = canonical_grid(m, n_points)
        step = grid[1] - grid[0]
        shape, fwhm = BROADENING[m]
        spec = broaden_many(pos[keep][order_peaks], amp[keep][order_peaks],
                            owner[keep][order_peaks], n, grid, max(fwhm, 2 * step), shape)
        ds.spectra[m] = _normalise_rows(spec)
        ds.grids[m] = grid
    return ds


def embedded_smiles(version: str, parts: Sequence[str], part: str | None = None) -> list[str]:
    """SMILES of the embedded dataset (``version`` ``v1`` or ``v2``) in the scaffold split's
    ``parts``; ``part`` keeps only the molecules of that build part (v2's ``part`` column)."""
    folder = EMBEDDED_V2_DIR if version == "v2" else EMBEDDED_DIR
    path = folder / "index.parquet"
    if not path.is_file():  # v2 is built chunk by chunk; its index may not exist yet
        return []
    columns = ["smiles", "split_scaffold"] + (["part"] if part else [])
    table = pq.read_table(path, columns=columns).to_pydict()
    keep = [p in parts and (part is None or b == part) for p, b in
            zip(table["split_scaffold"], table.get("part", table["smiles"]), strict=True)]
    return [s for s, k in zip(table["smiles"], keep, strict=True) if k]


def held_out_smiles(versions: Sequence[str] = ("v1",)) -> list[str]:
    """The embedded dataset's validation and test structures (scaffold split) of
    ``versions``."""
    return [s for v in versions for s in embedded_smiles(v, ("val", "test"))]
