"""The index of the dataset's second part: the v1 molecules plus the drug-size ones built.

The drug-size part (``data/embedded/v2``) is planned by :func:`~mspectmol.data.build.make_plan_v2`
and simulated chunk by chunk (``drug-NNN``, :data:`V2_CHUNK_SIZE` molecules each) like the first
part. :func:`finalize_index_v2` writes ``v2/index.parquet`` from the chunks on disk, so the
finished chunks can be used while the build goes on:

* every v1 molecule, with its v1 row (labels, random and scaffold splits) copied unchanged;
* every drug-size molecule of a finished chunk, labelled from its canonical SMILES;
* the splits of the new molecules are drawn over the whole plan, not over the chunks built, so
  a molecule keeps its split as more chunks arrive: ``split_random`` is the seeded 8:1:1 draw of
  :func:`~mspectmol.data.splits.random_split` over the plan; ``split_scaffold`` continues v1's
  scaffold split (:func:`~mspectmol.data.splits.extend_scaffold_split`: a scaffold already in
  v1 keeps its v1 split, new scaffolds fill the 8:1:1 split of v1 + plan);
* ``split_size`` is appendix K's stress split (:func:`~mspectmol.data.splits.size_split`) over
  the heavy atoms of v1 + plan: the test set is every molecule above a size threshold.

The index's ``chunk_dirs`` metadata names v1's and v2's chunk folders, so that
:func:`~mspectmol.data.dataset.load_dataset` reads both.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mspectmol.data.build import SPLIT_SEED, chunk_plan, read_plan
from mspectmol.data.dataset import EMBEDDED_DIR, EMBEDDED_V2_DIR
from mspectmol.data.splits import (
    SIZE_SPLIT_SEED,
    extend_scaffold_split,
    random_split,
    size_split,
)
from mspectmol.errors import MspectmolError

#: Molecules per chunk of the drug-size part (``scripts/build_loop.sh ... v2``).
V2_CHUNK_SIZE = 50
#: Columns of the v1 index, copied unchanged into the v2 index.
V1_COLUMNS = ("id", "smiles", "source", "heavy_atoms", "labels", "split_random",
              "split_scaffold")


@dataclass(frozen=True)
class PartStatus:
    """How far the build of a dataset part has got.

    Attributes
    ----------
    planned, built, failed
        Molecules in the plan, in finished chunks, and listed as failures of those chunks.
    chunks_planned, chunks_done
        Chunks of the plan and chunk files on disk.
    done
        Names of the finished chunks.
    failures
        The failure rows (``name``, ``smiles``, ``stage``, ``reason``) of the finished chunks.
    """

    planned: int
    built: int
    failed: int
    chunks_planned: int
    chunks_done: int
    done: tuple[str, ...]
    failures: tuple[dict[str, str], ...]


def part_status(root: Path = EMBEDDED_V2_DIR, chunk_size: int = V2_CHUNK_SIZE) -> PartStatus:
    """The build status of the dataset part in ``root`` (its plan and ``chunks/``)."""
    plan = read_plan(root)
    names = [n for n, _ in chunk_plan(plan, chunk_size)]
    done = [n for n in names if (root / "chunks" / f"{n}.parquet").is_file()]
    built = sum(pq.read_metadata(root / "chunks" / f"{n}.parquet").num_rows for n in done)
    failures: list[dict[str, str]] = []
    for n in done:
        path = root / "chunks" / f"{n}.failures.csv"
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as fh:
                failures.extend(csv.DictReader(fh))
    return PartStatus(len(plan), built, len(failures), len(names), len(done), tuple(done),
                      tuple(failures))


def _read_part_chunks(root: Path, names: tuple[str, ...]) -> pa.Table:
    """id, source, canonical SMILES and heavy atoms of the chunks ``names`` of ``root``."""
    files = [root / "chunks" / f"{n}.parquet" for n in names]
    if not files:
        raise MspectmolError(f"{root / 'chunks'}: no finished chunks to index yet")
    columns = ["id", "source", "canonical_smiles", "heavy_atoms"]
    try:
        return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])
    except (pa.ArrowInvalid, OSError) as exc:
        raise MspectmolError(f"{root / 'chunks'}: unreadable chunk ({exc})") from None


def plan_splits(v1_index: pa.Table, plan_ids: list[str], plan_smiles: list[str],
                plan_heavy: list[int], seed: int = SPLIT_SEED) -> dict[str, dict[str, str]]:
    """Split scheme -> {id: part} for the v1 molecules and every planned v2 molecule.

    ``random`` and ``scaffold`` hold the planned molecules only (v1 keeps its own); ``size``
    holds both, as it is drawn over their union.
    """
    v1_ids = v1_index.column("id").to_pylist()
    scaffold = extend_scaffold_split(v1_index.column("smiles").to_pylist(),
                                     v1_index.column("split_scaffold").to_pylist(),
                                     plan_smiles, seed)
    heavy = np.concatenate([v1_index.column("heavy_atoms").to_numpy(),
                            np.asarray(plan_heavy, dtype=np.int64)])
    size = size_split(heavy, SIZE_SPLIT_SEED)
    return {
        "random": dict(zip(plan_ids, random_split(len(plan_ids), seed).tolist(), strict=True)),
        "scaffold": dict(zip(plan_ids, scaffold.tolist(), strict=True)),
        "size": dict(zip(v1_ids + plan_ids, size.tolist(), strict=True)),
    }


def finalize_index_v2(v2_dir: Path = EMBEDDED_V2_DIR, v1_dir: Path = EMBEDDED_DIR,
                      seed: int = SPLIT_SEED, chunk_size: int = V2_CHUNK_SIZE) -> Path:
    """Write ``v2_dir/index.parquet`` from v1's index and the drug-size chunks on disk.

    The columns are v1's (id, smiles, source, heavy_atoms, labels, split_random,
    split_scaffold) plus ``part`` (``v1``/``v2``) and ``split_size``; v1 rows come first, as
    in v1's index, then the drug-size molecules by id. The metadata records the chunk
    folders and how many of the planned molecules are in (``v2_planned``, ``v2_indexed``,
    ``v2_failed``, ``v2_chunks_done``, ``v2_chunks_planned``).

    Raises
    ------
    MspectmolError
        When v1's index or v2's plan is missing, no chunk is finished yet, or a chunk holds a
        molecule that is not in the plan.
    """
    from mspectmol.chem.functional_groups import label

    v1_path = v1_dir / "index.parquet"
    if not v1_path.is_file():
        raise MspectmolError(f"{v1_path}: missing; finalize the first part first")
    v1 = pq.read_table(v1_path)
    plan = read_plan(v2_dir)
    status = part_status(v2_dir, chunk_size)
    chunks = _read_part_chunks(v2_dir, status.done)
    order = np.argsort(np.asarray(chunks.column("id").to_pylist()), kind="stable")
    chunks = chunks.take(pa.array(order))
    ids = chunks.column("id").to_pylist()
    planned = {e.id for e in plan}
    stray = [i for i in ids if i not in planned]
    if stray or len(set(ids)) != len(ids):
        raise MspectmolError(f"{v2_dir / 'chunks'}: molecules not in the plan or repeated "
                             f"(first: {(stray or ids)[0]})")
    splits = plan_splits(v1, [e.id for e in plan], [e.smiles for e in plan],
                         [e.heavy_atoms for e in plan], seed)
    smiles = chunks.column("canonical_smiles").to_pylist()
    v2 = pa.table({
        "id": pa.array(ids),
        "smiles": pa.array(smiles),
        "source": chunks.column("source"),
        "heavy_atoms": chunks.column("heavy_atoms").cast(pa.int64()),
        "labels": pa.array([label(s).tolist() for s in smiles], type=pa.list_(pa.uint8())),
        "split_random": pa.array([splits["random"][i] for i in ids]),
        "split_scaffold": pa.array([splits["scaffold"][i] for i in ids]),
    })
    v1_part = v1.select(list(V1_COLUMNS)).cast(v2.schema)
    index = pa.concat_tables([v1_part, v2])
    all_ids = index.column("id").to_pylist()
    index = index.append_column("part", pa.array(["v1"] * v1.num_rows + ["v2"] * len(ids)))
    index = index.append_column("split_size", pa.array([splits["size"][i] for i in all_ids]))
    test_sizes = [h for i, h in zip(all_ids, index.column("heavy_atoms").to_pylist(),
                                    strict=True) if splits["size"][i] == "test"]
    meta = {
        "split_seed": str(seed), "size_split_seed": str(SIZE_SPLIT_SEED),
        "size_test_min_heavy_atoms": str(min(test_sizes) if test_sizes else -1),
        "label_version": (v1.schema.metadata or {}).get(b"label_version",
                                                         b"functional_groups_v1").decode(),
        "chunk_dirs": json.dumps([os.path.relpath(v1_dir / "chunks", v2_dir), "chunks"]),
        "v1_molecules": str(v1.num_rows), "v2_planned": str(len(plan)),
        "v2_indexed": str(len(ids)), "v2_failed": str(status.failed),
        "v2_chunks_done": str(status.chunks_done),
        "v2_chunks_planned": str(status.chunks_planned),
    }
    index = index.replace_schema_metadata(meta)
    path = v2_dir / "index.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(index, tmp, compression="zstd")
    tmp.replace(path)
    return path
