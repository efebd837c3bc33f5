"""Molecule drawings with the atoms of functional groups highlighted (RDKit ``rdMolDraw2D``).

Each group gets one colour of :data:`PALETTE` (in the order given); an atom or bond shared by
several groups is drawn with all their colours (``DrawMoleculeWithHighlights``). Atoms come
from :func:`mspectmol.chem.functional_groups.match_atoms` (every match of the group's
SMARTS); a bond is highlighted when both its atoms belong to the same match.
"""

from __future__ import annotations

from collections.abc import Sequence

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from mspectmol.chem.functional_groups import get_group, match_atoms
from mspectmol.chem.molecules import MolLike, as_mol
from mspectmol.errors import MspectmolError

#: Highlight colours (matplotlib's "tab10" mixed 45% with white so atom labels stay
#: readable; RGB in 0-1), assigned to groups in order.
PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.517, 0.707, 0.838), (1.000, 0.724, 0.480), (0.545, 0.795, 0.545),
    (0.911, 0.534, 0.536), (0.769, 0.672, 0.858), (0.752, 0.635, 0.612),
    (0.940, 0.707, 0.869), (0.724, 0.724, 0.724), (0.855, 0.858, 0.523),
    (0.499, 0.860, 0.897),
)
FORMATS = ("png", "svg")


def group_colours(groups: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Colour of each group, cycling through :data:`PALETTE`."""
    return {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}


def group_atoms(mol: MolLike, groups: Sequence[str]
                ) -> dict[str, tuple[set[int], set[int]]]:
    """``{group: (atom indices, bond indices)}`` of every match of each group in ``mol``.

    Groups absent from the molecule get empty sets. Unknown group names raise
    :class:`~mspectmol.chem.functional_groups.FunctionalGroupError`.
    """
    m = as_mol(mol)
    out: dict[str, tuple[set[int], set[int]]] = {}
    for name in groups:
        atoms: set[int] = set()
        bonds: set[int] = set()
        for match in match_atoms(m, get_group(name)):
            inside = set(match)
            atoms |= inside
            bonds |= {b.GetIdx() for b in m.GetBonds()
                      if b.GetBeginAtomIdx() in inside and b.GetEndAtomIdx() in inside}
        out[name] = (atoms, bonds)
    return out


def _drawer(fmt: str, width: int, height: int) -> rdMolDraw2D.MolDraw2D:
    if fmt == "png":
        return rdMolDraw2D.MolDraw2DCairo(width, height)
    if fmt == "svg":
        return rdMolDraw2D.MolDraw2DSVG(width, height)
    raise MspectmolError(f"unknown drawing format {fmt!r}; use one of {', '.join(FORMATS)}")


def draw_molecule(mol: MolLike, groups: Sequence[str] = (), *, fmt: str = "png",
                  size: tuple[int, int] = (500, 400), legend: str = "",
                  colours: dict[str, tuple[float, float, float]] | None = None
                  ) -> bytes | str:
    """Draw a molecule with each group's atoms and bonds highlighted.

    Parameters
    ----------
    mol
        SMILES or RDKit molecule.
    groups
        Functional-group names or keys to highlight (absent groups are simply not drawn).
    fmt
        ``"png"`` (returns bytes) or ``"svg"`` (returns text).
    size
        ``(width, height)`` in pixels.
    legend
        Text under the molecule.
    colours
        ``{group: (r, g, b)}``; default :func:`group_colours`.

    Returns
    -------
    bytes or str
        PNG bytes or SVG text.

    Raises
    ------
    InvalidSmilesError
        For an invalid SMILES.
    MspectmolError
        For an unknown format.
    """
    base = as_mol(mol)
    drawer = _drawer(fmt, int(size[0]), int(size[1]))
    colours = colours or group_colours(groups)
    matches = group_atoms(base, groups)
    atom_map: dict[int, list[tuple[float, float, float]]] = {}
    bond_map: dict[int, list[tuple[float, float, float]]] = {}
    for name, (atoms, bonds) in matches.items():
        for a in sorted(atoms):
            atom_map.setdefault(a, []).append(colours[name])
        for b in sorted(bonds):
            bond_map.setdefault(b, []).append(colours[name])
    prepared = rdMolDraw2D.PrepareMolForDrawing(Chem.Mol(base))
    drawer.drawOptions().fillHighlights = True
    drawer.DrawMoleculeWithHighlights(prepared, legend, atom_map, bond_map,
                                      {a: 0.4 for a in atom_map}, {})
    drawer.FinishDrawing()
    data = drawer.GetDrawingText()
    return data if fmt == "png" else str(data)
