"""SMILES syntax as a decoding constraint: every finished draw is a string RDKit can parse.

A decoder trained on SMILES usually writes valid strings, but when the formula constraint
(:class:`~mspectmol.structure.generation.beam.FormulaConstraint`) ends a drug-size draw as
its last heavy atom is placed, branches and rings it had opened are often left open: of
2,400 unconstrained draws of the packaged drug-size generator for 8 Alberts et al. molecules,
42% did not parse (30% ring labels, 12% parentheses), against 18% that gave a structure of
the formula. :class:`SmilesSyntax` tracks, for each hypothesis, the kind of its last token,
the open branches and the open ring labels (with the atom each was opened on) and allows
only tokens that keep the string parseable and closable within the heavy atoms left:

* a bond only after an atom, a ring label, a closed branch or ``(``, and while an atom or a
  ring closure can follow it;
* ``(`` only after an atom, a ring label or a closed branch, while an atom is left;
* ``)`` only inside a branch, after an atom, a ring label or a closed branch;
* a ring label only after an atom, a label or a single bond (ring bonds are single or
  aromatic: the opener's valence counts one); it opens while two more atoms are left, and
  closes neither on the atom that opened it, nor on a neighbour of it along the chain, nor
  between two atoms another ring bond already joins;
* ``<eos>`` only with every branch and ring closed, not after a bond or ``(``; ``.`` never
  (one molecule);
* an atom that would be left without a free bond (a fluorine, a carbonyl oxygen) only in a
  branch or as the formula's last atom, where the string can still go on or end;
* an aromatic atom written outside every open ring opens a ring label at once (aromatic
  atoms belong to rings; RDKit cannot kekulize a chain of them);
* unsaturation (with the formula's hydrogens): rings and pi bonds, counted in half-units
  (aromatic ``c`` and ``n`` half a degree each), may not exceed the formula's degree of
  unsaturation, and ``<eos>`` needs it reached within half a degree;
* valence: each atom's bonds (to the previous atom, branches, ring labels, bond orders)
  stay within its largest usual valence (:data:`MAX_VALENCE`; aromatic atoms count an
  aromatic bond as one), so a formula's last atoms cannot be forced into a fluorine's second
  bond or a ring closure on a saturated oxygen. Aromaticity is left to RDKit, as before.

:meth:`SmilesSyntax.apply` masks the log-probabilities; :meth:`SmilesSyntax.advance` records
the chosen tokens (following the parent hypotheses in a beam search).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

# token kinds
START, ATOM, BOND, OPEN, CLOSE, RING, EOS, FORBIDDEN, OTHER = range(9)
_BONDS = {"-", "=", "#", ":", "/", "\\", "~"}
_ORDERS = {"=": 2, "#": 3}
#: Bonds (orders summed, aromatic bonds as 1) an atom token may carry, by its symbol;
#: bracket atoms not named here may carry 4.
MAX_VALENCE = {"C": 4, "N": 3, "O": 2, "S": 6, "P": 5, "F": 1, "Cl": 1, "Br": 1, "I": 1,
               "B": 3, "Si": 4, "Se": 2, "c": 4, "n": 3, "o": 2, "s": 3, "p": 3,
               "[nH]": 2, "[n+]": 3, "[N+]": 4, "[N-]": 2, "[O-]": 1, "[C-]": 3, "[S-]": 1,
               "[O+]": 3, "[S+]": 3, "[NH+]": 3, "[NH2+]": 2, "[NH3+]": 1, "[nH+]": 2}
#: Half-units of unsaturation (rings plus pi bonds) each aromatic atom token brings: a
#: six-ring of "c" gives 6 halves, and its ring closure 2 more, benzene's 4 degrees.
AROMATIC_HALVES = {"c": 1, "n": 1, "[n+]": 1, "[nH+]": 1, "p": 1, "o": 0, "s": 0, "[nH]": 0}
#: Tolerance of the unsaturation at ``<eos>``, in half-units (an exocyclic double bond on an
#: aromatic atom, as in 2-pyridone, counts half a degree too many).
UNSATURATION_SLACK = 1
#: Per-element weight of twice the degree of unsaturation, ``2 + sum(w * count)``.
_UNSATURATION_WEIGHTS = {"C": 2, "Si": 2, "N": 1, "P": 1, "B": 1, "H": -1, "F": -1, "Cl": -1,
                         "Br": -1, "I": -1}

#: Deepest branch nesting tracked.
MAX_DEPTH = 32
#: Ring closures remembered per hypothesis (two may not join the same pair of atoms).
MAX_RING_BONDS = 16


def unsaturation_halves(formula: np.ndarray, elements: Sequence[str]) -> np.ndarray:
    """Twice the degree of unsaturation of formula count vectors ``(..., len(elements))``:
    ``2 C + 2 + N + P - H - halogens`` (oxygen and sulfur do not count)."""
    weights = np.array([_UNSATURATION_WEIGHTS.get(e, 0) for e in elements])
    return 2 + np.asarray(formula) @ weights


def token_kinds(tokens: Sequence[str], elements: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kind of each token, the ring label it writes (-1 for other tokens) and its bond
    order (bonds), largest valence (atoms) or 0.

    ``elements`` is the :func:`~mspectmol.structure.model.tokens.token_elements` table: a
    token that adds a heavy atom is an atom. Specials other than ``<eos>`` and ``.`` are
    never allowed; tokens the grammar does not know (charges, wildcards) are allowed after an
    atom and change nothing.
    """
    kinds = np.full(len(tokens), OTHER, dtype=np.int64)
    labels = np.full(len(tokens), -1, dtype=np.int64)
    sizes = np.zeros(len(tokens), dtype=np.int64)
    rings: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if tok == "<eos>":
            kinds[i] = EOS
        elif tok.startswith("<") or tok == ".":
            kinds[i] = FORBIDDEN
        elif np.asarray(elements[i]).sum() > 0:
            kinds[i] = ATOM
            sizes[i] = MAX_VALENCE.get(tok, 4)
        elif tok in _BONDS:
            kinds[i] = BOND
            sizes[i] = _ORDERS.get(tok, 1)
        elif tok == "(":
            kinds[i] = OPEN
        elif tok == ")":
            kinds[i] = CLOSE
        elif tok.isdigit() or (tok.startswith("%") and tok[1:].isdigit()):
            kinds[i] = RING
            labels[i] = rings.setdefault(tok, len(rings))
    return kinds, labels, sizes


class SmilesSyntax:
    """The syntax state of ``n`` hypotheses decoding SMILES (see the module docstring).

    Parameters
    ----------
    tokens
        The vocabulary's token strings, in index order.
    elements
        The vocabulary's :func:`~mspectmol.structure.model.tokens.token_elements` table.
    n
        Hypotheses decoded together.
    """

    def __init__(self, tokens: Sequence[str], elements: np.ndarray, n: int,
                 unsaturation: torch.Tensor | None = None) -> None:
        kinds, labels, sizes = token_kinds(tokens, elements)
        # unsaturation budget in half-units (None: not tracked): aromatic atoms, bond orders
        # above one and ring closures spend it; <eos> needs it spent within the slack
        self.target = None if unsaturation is None else torch.as_tensor(
            unsaturation, dtype=torch.long).expand(n).clone()
        self.spent = torch.zeros(n, dtype=torch.long)
        self.aromatic = torch.as_tensor([kinds[i] == ATOM and t in AROMATIC_HALVES
                                         for i, t in enumerate(tokens)])
        # an aromatic atom written outside every ring must open one next
        self.must_open = torch.zeros(n, dtype=torch.bool)
        self.halves = torch.as_tensor([AROMATIC_HALVES.get(t, 0) if kinds[i] == ATOM else
                                       2 * (sizes[i] - 1) if kinds[i] == BOND else 0
                                       for i, t in enumerate(tokens)], dtype=torch.long)
        self.kind = torch.as_tensor(kinds)
        self.label = torch.as_tensor(labels)
        self.size = torch.as_tensor(sizes)
        self.n_labels = max(1, int(labels.max()) + 1)
        self.last = torch.full((n,), START, dtype=torch.long)
        self.depth = torch.zeros(n, dtype=torch.long)
        self.atoms = torch.zeros(n, dtype=torch.long)
        self.ring_at = torch.full((n, self.n_labels), -1, dtype=torch.long)
        self.ring_parent = torch.full((n, self.n_labels), -1, dtype=torch.long)
        # valence: bonds used / allowed of the current atom and of the branch points above
        # it, the order of a bond written but not yet followed by its atom or ring label
        self.used = torch.zeros(n, dtype=torch.long)
        self.most = torch.zeros(n, dtype=torch.long)
        self.stack_used = torch.zeros(n, MAX_DEPTH, dtype=torch.long)
        self.stack_most = torch.zeros(n, MAX_DEPTH, dtype=torch.long)
        self.pending = torch.zeros(n, dtype=torch.long)
        self.after_open = torch.zeros(n, dtype=torch.bool)
        # the current atom (where the next bond or ring label attaches) and its parent, by
        # index in writing order, for the branch points too: a ring may not close on the
        # atom that opened it or on that atom's neighbour along the chain
        self.cur = torch.full((n,), -1, dtype=torch.long)
        self.parent = torch.full((n,), -1, dtype=torch.long)
        self.stack_cur = torch.full((n, MAX_DEPTH), -1, dtype=torch.long)
        self.stack_parent = torch.full((n, MAX_DEPTH), -1, dtype=torch.long)
        self.ring_bonds = torch.full((n, MAX_RING_BONDS, 2), -1, dtype=torch.long)
        self.n_ring_bonds = torch.zeros(n, dtype=torch.long)

    def _on_branch(self) -> torch.Tensor:
        """``(n,)`` whether the next bond attaches to the branch point: just after ``(``, or
        ``(`` and a bond."""
        return (self.last == OPEN) | ((self.last == BOND) & self.after_open)

    def _free(self) -> torch.Tensor:
        """``(n,)`` bonds the atom the next bond attaches to can still take: the branch
        point just after ``(`` (or its bond), else the current atom."""
        top = (self.depth - 1).clamp(0, MAX_DEPTH - 1)[:, None]
        on_branch = self._on_branch()
        branch = (self.stack_most.gather(1, top) - self.stack_used.gather(1, top))[:, 0]
        return torch.where(on_branch, branch, self.most - self.used)

    def allowed(self, remaining: torch.Tensor | None = None,
                permitted: torch.Tensor | None = None) -> torch.Tensor:
        """``(n, vocab)`` tokens each hypothesis may write next; ``remaining`` holds the heavy
        atoms each may still place and ``permitted`` ``(n, vocab)`` the tokens the formula
        still allows (None: unlimited)."""
        n = self.last.shape[0]
        left = (torch.full((n,), 1 << 30, dtype=torch.long) if remaining is None
                else remaining.to(torch.long))
        last = self.last[:, None]
        kind = self.kind[None, :]
        on_atom = (last == ATOM) | (last == RING) | (last == CLOSE)
        rings_open = (self.ring_at >= 0).any(dim=1, keepdim=True)
        free = self._free()[:, None]
        size = self.size[None, :]
        pending = self.pending[:, None]
        ok = torch.zeros(n, kind.shape[1], dtype=torch.bool)
        ok |= (kind == ATOM) & ((last == START) | (pending > 0) & (size >= pending)
                                | (pending == 0) & (free >= 1))
        # an atom left with no free bond ends the string: on the main chain, only as the
        # formula's last atom
        bond_in = torch.where(pending > 0, pending, (last != START).long())
        ok &= ~((kind == ATOM) & (size - bond_in <= 0) & (self.depth[:, None] == 0)
                & (left[:, None] > 1))
        # a bond of order k needs an atom the formula still allows that can take k bonds
        atoms = (self.kind == ATOM)[None, :] & (
            torch.ones(n, 1, dtype=torch.bool) if permitted is None else permitted)
        takes = torch.stack([(atoms & (self.size[None, :] >= k)).any(dim=1)
                             for k in range(4)], dim=1)  # (n, order 0..3)
        follows = takes.gather(1, size.clamp(0, 3).expand(n, -1)) | (rings_open & (size == 1))
        ok |= (kind == BOND) & (on_atom | (last == OPEN)) & (free >= size) & follows
        ok |= (kind == OPEN) & on_atom & (left[:, None] > 0) & (free >= 1)
        ok |= (kind == CLOSE) & on_atom & (self.depth[:, None] > 0)
        ok |= (kind == OTHER) & (last == ATOM)
        closed = (self.depth == 0) & ~rings_open[:, 0]
        ok |= (kind == EOS) & on_atom & closed[:, None]
        # ring labels: close an open one far enough back, or open a free one
        labels = self.label.clamp_min(0)
        opened_at = self.ring_at[:, labels]  # (n, vocab)
        place = ((last == ATOM) | (last == RING)
                 | (last == BOND) & ~self.after_open[:, None] & (pending == 1))
        cur = self.cur[:, None, None]
        opener = self.ring_at[:, None, :]  # (n, 1, labels)
        ends = self.ring_bonds[:, :, None, :]  # (n, bonds, 1, 2)
        joined = (((ends[..., 0] == cur) & (ends[..., 1] == opener))
                  | ((ends[..., 1] == cur) & (ends[..., 0] == opener))).any(dim=1)
        neighbours = ((opened_at == self.cur[:, None]) | (opened_at == self.parent[:, None])
                      | (self.ring_parent[:, labels] == self.cur[:, None]))
        closes = (opened_at >= 0) & ~neighbours & ~joined[:, labels] & place
        opens = (opened_at < 0) & place & (left[:, None] >= 2)
        ok |= (kind == RING) & (closes | opens) & ((pending > 0) | (free >= 1))
        # aromatic atoms belong to rings: one outside every ring opens a ring at once
        ok &= ~(self.aromatic[None, :] & ~rings_open & (left[:, None] < 3))
        ok &= ~self.must_open[:, None] | ((kind == RING) & opens)
        if self.target is not None:
            budget = (self.target - self.spent)[:, None]
            cost = self.halves[None, :] + 2 * ((kind == RING) & closes).long()
            ok &= cost <= budget + UNSATURATION_SLACK
            ok &= (kind != EOS) | (budget.abs() <= UNSATURATION_SLACK)
        return ok

    def apply(self, logp: torch.Tensor, remaining: torch.Tensor | None = None) -> torch.Tensor:
        """``logp`` ``(n, vocab)`` (the formula's constraint already applied: its -inf are
        the tokens it forbids) with the tokens the syntax forbids set to -inf too."""
        permitted = torch.isfinite(logp)
        return logp.masked_fill(~self.allowed(remaining, permitted), float("-inf"))

    def advance(self, parent: torch.Tensor | None, token: torch.Tensor) -> None:
        """Record the chosen ``token`` of each hypothesis (continuing hypothesis ``parent``)."""
        if parent is not None:
            self.last, self.depth = self.last[parent], self.depth[parent]
            self.atoms, self.ring_at = self.atoms[parent], self.ring_at[parent].clone()
            self.ring_parent = self.ring_parent[parent].clone()
            self.used, self.most = self.used[parent], self.most[parent]
            self.stack_used = self.stack_used[parent].clone()
            self.stack_most = self.stack_most[parent].clone()
            self.pending, self.after_open = self.pending[parent], self.after_open[parent]
            self.cur, self.parent = self.cur[parent], self.parent[parent]
            self.spent = self.spent[parent]
            self.must_open = self.must_open[parent]
            if self.target is not None:
                self.target = self.target[parent]
            self.ring_bonds = self.ring_bonds[parent].clone()
            self.n_ring_bonds = self.n_ring_bonds[parent]
            self.stack_cur = self.stack_cur[parent].clone()
            self.stack_parent = self.stack_parent[parent].clone()
        kind = self.kind[token]
        self.spent = self.spent + self.halves[token]
        self.must_open = self.aromatic[token] & ~(self.ring_at >= 0).any(dim=1)
        on_branch = self._on_branch()
        self._bonds(kind, self.size[token], on_branch)
        self._place(kind, on_branch)
        self.atoms = self.atoms + (kind == ATOM).long()
        self.depth = self.depth + (kind == OPEN).long() - (kind == CLOSE).long()
        ring = kind == RING
        if bool(ring.any()):
            rows = torch.nonzero(ring).squeeze(1)
            labels = self.label[token[rows]]
            was = self.ring_at[rows, labels]
            shut = was >= 0
            slot = self.n_ring_bonds[rows[shut]].clamp_max(MAX_RING_BONDS - 1)
            self.ring_bonds[rows[shut], slot] = torch.stack((self.cur[rows[shut]], was[shut]), 1)
            self.n_ring_bonds[rows[shut]] += 1
            self.spent[rows[shut]] += 2
            self.ring_at[rows, labels] = torch.where(shut, torch.full_like(was, -1),
                                                     self.cur[rows])
            self.ring_parent[rows, labels] = torch.where(shut, torch.full_like(was, -1),
                                                         self.parent[rows])
        keep = (kind == OTHER) | (kind == FORBIDDEN) | (kind == EOS)
        self.last = torch.where(keep, self.last, kind)

    def _bonds(self, kind: torch.Tensor, size: torch.Tensor, on_branch: torch.Tensor) -> None:
        """Valence bookkeeping of the chosen tokens (before the other state moves on)."""
        n = kind.shape[0]
        rows = torch.arange(n)
        top = (self.depth - 1).clamp(0, MAX_DEPTH - 1)
        # the bond a token makes to the atom it attaches to: a bond token's order, or 1 for
        # an atom or ring label written without one (none for the first atom)
        implicit = ((kind == ATOM) & (self.last != START) | (kind == RING)) & (self.pending == 0)
        order = torch.where(kind == BOND, size, implicit.long())
        branch = on_branch & (order > 0)
        self.stack_used[rows[branch], top[branch]] += order[branch]
        self.used = self.used + torch.where(~on_branch, order, torch.zeros_like(order))
        atom = kind == ATOM
        first = torch.where(self.pending > 0, self.pending, implicit.long())
        self.used = torch.where(atom, first, self.used)
        self.most = torch.where(atom, size, self.most)
        self.pending = torch.where(kind == BOND, size,
                                   torch.where(atom | (kind == RING), 0, self.pending))
        self._branch_stack(kind, (("used", "stack_used"), ("most", "stack_most")))
        self.after_open = torch.where(kind == OPEN, True,
                                      torch.where(kind == BOND, self.after_open,
                                                  torch.zeros_like(self.after_open)))

    def _place(self, kind: torch.Tensor, on_branch: torch.Tensor) -> None:
        """Move the current atom: a new atom (its parent the atom it bonds to), into a branch
        (the branch point saved) or out of one (restored)."""
        rows = torch.arange(kind.shape[0])
        top = (self.depth - 1).clamp(0, MAX_DEPTH - 1)
        attach = torch.where(on_branch, self.stack_cur[rows, top], self.cur)
        atom = kind == ATOM
        self.parent = torch.where(atom, torch.where(self.last == START, -1, attach), self.parent)
        self.cur = torch.where(atom, self.atoms, self.cur)  # self.atoms: before this atom
        self._branch_stack(kind, (("cur", "stack_cur"), ("parent", "stack_parent")))

    def _branch_stack(self, kind: torch.Tensor, pairs: Sequence[tuple[str, str]]) -> None:
        """For each ``(value, stack)`` attribute pair: save the value on ``(`` and restore it
        on ``)`` (before the depth moves)."""
        rows = torch.arange(kind.shape[0])
        opening = (kind == OPEN) & (self.depth < MAX_DEPTH)
        level = self.depth.clamp(0, MAX_DEPTH - 1)
        top = (self.depth - 1).clamp(0, MAX_DEPTH - 1)
        closing = (kind == CLOSE) & (self.depth > 0)
        for value, stack in pairs:
            current, saved = getattr(self, value), getattr(self, stack)
            saved[rows[opening], level[opening]] = current[opening]
            setattr(self, value, torch.where(closing, saved[rows, top], current))
