"""Molecular graphs for conformer generation: atoms, bonds, extended (2/3-hop) edges, batches.

The diffusion model works on atom pairs of one molecule. Every intra-molecular pair ``i < j``
is listed once (:attr:`MolGraph.pairs`) with a type: 1-4 for a chemical bond (single, double,
triple, aromatic), 5 and 6 for atoms two and three bonds apart (GeoDiff's "extended" local
edges, which fix bond angles and torsions) and 0 for the rest. Pairs of types 1-6 are the
*local* edges; type-0 pairs closer than a cutoff at the current (noisy) geometry form the
*global* radius graph. The radius graph is computed with :func:`torch.cdist`-equivalent pair
distances because ``torch_geometric.radius_graph`` needs ``pyg-lib``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from torch import Tensor

from mspectmol.errors import MspectmolError

#: Atomic numbers with their own embedding; anything else shares the last row.
ATOM_TYPES = (1, 6, 7, 8, 9, 15, 16, 17, 35)
BOND_TYPE_IDS = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3,
                 Chem.BondType.AROMATIC: 4}
TWO_HOP, THREE_HOP = 5, 6
N_PAIR_TYPES = 7


def atom_type_index(z: np.ndarray) -> np.ndarray:
    """Row of each atomic number in the atom embedding (unknown elements: the last row)."""
    lookup = {a: i for i, a in enumerate(ATOM_TYPES)}
    return np.array([lookup.get(int(a), len(ATOM_TYPES)) for a in z], dtype=np.int64)


@dataclass
class MolGraph:
    """One molecule with explicit hydrogens in ``Chem.AddHs(MolFromSmiles)`` atom order.

    Attributes
    ----------
    z
        Atomic numbers ``(n,)``.
    pairs
        All pairs ``i < j``, ``(2, n (n - 1) / 2)`` int64.
    pair_type
        Type of each pair (see the module docstring), int64.
    """

    z: np.ndarray
    pairs: np.ndarray
    pair_type: np.ndarray

    @property
    def n_atoms(self) -> int:
        return int(self.z.size)


def graph_from_mol(mol: Chem.Mol) -> MolGraph:
    """Pair list and types of an RDKit molecule that already has explicit hydrogens."""
    n = mol.GetNumAtoms()
    if n < 2:
        raise MspectmolError(f"{Chem.MolToSmiles(mol)}: a conformer needs at least two atoms")
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    ptype = np.zeros((n, n), dtype=np.int64)
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        ptype[i, j] = ptype[j, i] = BOND_TYPE_IDS.get(bond.GetBondType(), 1)
    hops = Chem.GetDistanceMatrix(mol)
    ptype[(ptype == 0) & (hops == 2)] = TWO_HOP
    ptype[(ptype == 0) & (hops == 3)] = THREE_HOP
    iu, ju = np.triu_indices(n, k=1)
    return MolGraph(z=z, pairs=np.stack([iu, ju]).astype(np.int64), pair_type=ptype[iu, ju])


@dataclass
class GraphBatch:
    """Several molecules (or several copies of one) concatenated.

    Attributes
    ----------
    atom_type
        Embedding row of each atom ``(N,)``.
    batch
        Molecule index of each atom ``(N,)``.
    pairs
        All intra-molecular pairs ``i < j`` with global atom indices ``(2, P)``.
    pair_type
        ``(P,)``; ``pair_type > 0`` marks local edges.
    n_graphs
        Number of molecules.
    """

    atom_type: Tensor
    batch: Tensor
    pairs: Tensor
    pair_type: Tensor
    n_graphs: int

    @property
    def local(self) -> Tensor:
        return self.pair_type > 0


def collate_graphs(graphs: list[MolGraph]) -> GraphBatch:
    """Concatenate molecule graphs into one :class:`GraphBatch`."""
    if not graphs:
        raise MspectmolError("empty batch of molecules")
    offset, types, batch, pairs, ptypes = 0, [], [], [], []
    for k, g in enumerate(graphs):
        types.append(atom_type_index(g.z))
        batch.append(np.full(g.n_atoms, k, dtype=np.int64))
        pairs.append(g.pairs + offset)
        ptypes.append(g.pair_type)
        offset += g.n_atoms
    return GraphBatch(atom_type=torch.from_numpy(np.concatenate(types)),
                      batch=torch.from_numpy(np.concatenate(batch)),
                      pairs=torch.from_numpy(np.concatenate(pairs, axis=1)),
                      pair_type=torch.from_numpy(np.concatenate(ptypes)),
                      n_graphs=len(graphs))


def pair_geometry(pos: Tensor, pairs: Tensor) -> tuple[Tensor, Tensor]:
    """Distances ``(P,)`` and unit vectors ``(P, 3)`` from atom ``j`` to atom ``i`` of each pair."""
    diff = pos[pairs[0]] - pos[pairs[1]]
    dist = diff.norm(dim=-1).clamp_min(1e-6)
    return dist, diff / dist.unsqueeze(-1)


def edge_mask(batch: GraphBatch, dist: Tensor, cutoff: float) -> tuple[Tensor, Tensor]:
    """``(local, global)`` boolean masks over the pairs: bonds + 2/3-hop, and the radius graph.

    The global (radius) edges are the non-local pairs closer than ``cutoff`` at the current
    geometry.
    """
    local = batch.local
    return local, (~local) & (dist < cutoff)


def centre(pos: Tensor, batch: Tensor, n_graphs: int) -> Tensor:
    """Subtract each molecule's centroid."""
    sums = torch.zeros(n_graphs, pos.shape[-1], dtype=pos.dtype).index_add_(0, batch, pos)
    counts = torch.bincount(batch, minlength=n_graphs).clamp_min(1).to(pos.dtype)
    return pos - (sums / counts.unsqueeze(-1))[batch]
