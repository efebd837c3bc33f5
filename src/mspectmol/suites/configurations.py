"""Spectrum configurations of a suite and how modalities and their sets are written.

A :class:`Configuration` is a primary modality and its auxiliary ones; a *modality set* is
the canonical text of its modalities regardless of roles (``ir+c_nmr+h_nmr``), the unit
that role-free models are trained on. :data:`MODALITY_TEXT` gives the display names used in
tables and run labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Display names, and the order of modalities inside a modality set.
MODALITY_TEXT = {"ir": "IR", "raman": "Raman", "uv": "UV-Vis", "c_nmr": "13C-NMR",
                 "h_nmr": "1H-NMR", "ms": "MS", "msms_pos": "MS/MS+", "msms_neg": "MS/MS-"}


def modality_set(modalities: Sequence[str]) -> str:
    """Canonical text of a set of modalities (``ir+c_nmr+h_nmr``).

    Parameters
    ----------
    modalities
        Canonical modality names, in any order, possibly repeated.

    Returns
    -------
    str
        The distinct names in :data:`MODALITY_TEXT` order (others after them, sorted),
        joined by ``+``.
    """
    order = list(MODALITY_TEXT)
    return "+".join(sorted(set(modalities), key=lambda m: (order.index(m) if m in order
                                                          else len(order), m)))


def set_label(modalities: Sequence[str]) -> str:
    """``IR + 13C-NMR + 1H-NMR`` for a modality set.

    Parameters
    ----------
    modalities
        Canonical modality names.

    Returns
    -------
    str
        Display names in the order of :func:`modality_set`, joined by ``" + "``.
    """
    return " + ".join(MODALITY_TEXT.get(m, m) for m in modality_set(modalities).split("+"))


@dataclass(frozen=True)
class Configuration:
    """A spectrum configuration: the primary modality and the auxiliary ones."""

    primary: str
    auxiliary: tuple[str, ...] = ()

    @property
    def modalities(self) -> tuple[str, ...]:
        """The primary, then the auxiliary modalities."""
        return (self.primary, *self.auxiliary)

    @property
    def modality_set(self) -> str:
        """The canonical text of its modalities (:func:`modality_set`)."""
        return modality_set(self.modalities)

    def label(self, markdown: bool = False) -> str:
        """``IR + (13C-NMR, 1H-NMR)``; the primary in bold when ``markdown`` and not alone.

        Parameters
        ----------
        markdown
            Set the primary in bold (``**IR**``) when there are auxiliary modalities.

        Returns
        -------
        str
            The configuration's display text.
        """
        head = MODALITY_TEXT.get(self.primary, self.primary)
        if not self.auxiliary:
            return head
        head = f"**{head}**" if markdown else head
        return f"{head} + ({', '.join(MODALITY_TEXT.get(a, a) for a in self.auxiliary)})"
