"""QM9 conformer records of the embedded dataset: graph, DFT and GFN2 geometries, spectra.

Each record's ``smiles`` (isomeric: its stereo was taken from the DFT geometry when the
dataset was built, see :mod:`mspectmol.data.qm9_geometry`) gives the atom order of
``Chem.AddHs(Chem.MolFromSmiles(smiles))``, which is the order of ``coordinates`` (GFN2-xTB)
and ``ref_coordinates`` (QM9's DFT geometry); :func:`load_conformer_records` checks the
element order and fails loudly when it does not match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from mspectmol.conformers.graph import GraphBatch, MolGraph, collate_graphs, graph_from_mol
from mspectmol.errors import MspectmolError


@dataclass
class ConformerRecord:
    """One molecule with its reference geometries and (max-normalised) spectra."""

    id: str
    smiles: str
    graph: MolGraph
    ref_coords: np.ndarray
    gfn2_coords: np.ndarray
    spectra: dict[str, np.ndarray] = field(default_factory=dict)
    split: str = ""


def mol_with_hs(smiles: str, *, source: str | None = None) -> Chem.Mol:
    """``AddHs(MolFromSmiles(smiles))`` with a clear error for an invalid SMILES."""
    from mspectmol.chem.molecules import mol_from_smiles

    return Chem.AddHs(mol_from_smiles(smiles, source=source))


def _coords(flat: list[float] | None, n: int, what: str) -> np.ndarray:
    arr = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
    if arr.shape[0] != n or not np.isfinite(arr).all():
        raise MspectmolError(f"{what}: {arr.shape[0]} finite coordinates for {n} atoms")
    return arr


def load_conformer_records(modalities: tuple[str, ...] = ("ir", "raman"), *,
                           split_scheme: str = "scaffold", data: Path | None = None
                           ) -> list[ConformerRecord]:
    """Every QM9 molecule of the embedded dataset (those with a DFT reference geometry).

    Parameters
    ----------
    modalities
        Spectra to attach (rows of :func:`mspectmol.data.dataset.load_dataset` matched by id).
    split_scheme
        Which split labels to attach (``scaffold`` or ``random``).
    data
        Dataset folder (default: the embedded one).
    """
    from mspectmol.data.dataset import load_dataset, read_chunks

    ds = load_dataset(tuple(modalities), path=data) if modalities else load_dataset(("ir",),
                                                                                    path=data)
    row_of = {k: i for i, k in enumerate(ds.ids)}
    table = read_chunks(data, columns=["id", "smiles", "atomic_numbers", "coordinates",
                                       "ref_coordinates"])
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    records = []
    for rid, smi, z, xyz, ref in zip(cols["id"], cols["smiles"], cols["atomic_numbers"],
                                     cols["coordinates"], cols["ref_coordinates"], strict=True):
        if ref is None or rid not in row_of:
            continue
        mol = mol_with_hs(smi, source=f"record {rid}")
        graph = graph_from_mol(mol)
        if not np.array_equal(graph.z, np.asarray(z)):
            raise MspectmolError(f"record {rid} ({smi}): the element order of its coordinates "
                                 "is not that of AddHs(MolFromSmiles(smiles))")
        row = row_of[rid]
        records.append(ConformerRecord(
            id=rid, smiles=smi, graph=graph,
            ref_coords=_coords(ref, graph.n_atoms, f"record {rid} ref_coordinates"),
            gfn2_coords=_coords(xyz, graph.n_atoms, f"record {rid} coordinates"),
            spectra={m: ds.spectra[m][row] for m in modalities},
            split=str(ds.splits[split_scheme][row])))
    if not records:
        raise MspectmolError("the dataset holds no QM9 molecule with a DFT reference geometry")
    return records


def spectra_batch(spectra: list[dict[str, np.ndarray]], modalities: tuple[str, ...]
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Stack per-molecule spectra; a missing modality is zero and marked unavailable."""
    out, avail = {}, {}
    for m in modalities:
        rows, mask = [], []
        for s in spectra:
            y = s.get(m)
            mask.append(y is not None)
            rows.append(np.zeros_like(next(iter(s.values()))) if y is None else y)
        out[m] = torch.from_numpy(np.stack(rows).astype(np.float32))
        avail[m] = torch.tensor(mask, dtype=torch.bool)
    return out, avail


def training_batch(records: list[ConformerRecord], modalities: tuple[str, ...]
                   ) -> tuple[torch.Tensor, GraphBatch, dict[str, torch.Tensor] | None,
                              dict[str, torch.Tensor] | None]:
    """``(x0 centred (N, 3), graphs, spectra, availability)`` of reference conformers."""
    graph = collate_graphs([r.graph for r in records])
    x0 = torch.from_numpy(np.concatenate([r.ref_coords - r.ref_coords.mean(0)
                                          for r in records]).astype(np.float32))
    if not modalities:
        return x0, graph, None, None
    spectra, avail = spectra_batch([r.spectra for r in records], modalities)
    return x0, graph, spectra, avail
