"""Checks of a model input batch shared by the torch and NumPy engines (no torch here).

:func:`mspectmol.models.encoders.prepare_batch` (tensors) and
:func:`mspectmol.models.numpy_layers.prepare_arrays` (arrays) check a ``{modality: spectra}``
batch the same way: modality names in any accepted spelling, each named once
(:func:`canonical_keys`); every required modality given (:func:`check_required`); at least
one modality present, all with the same, non-zero number of rows (:func:`batch_size`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mspectmol.errors import MspectmolError
from mspectmol.spectra.modalities import get_modality


def canonical_keys(mapping: Mapping[str, Any], what: str) -> dict[str, tuple[str, Any]]:
    """``{canonical modality name: (key as given, value)}``; a modality named twice (by
    aliases) is an error."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in mapping.items():
        name = get_modality(key).name
        if name in out:
            raise MspectmolError(f"{what} names modality {name!r} twice (key {key!r})")
        out[name] = (key, value)
    return out


def check_required(given: Mapping[str, Any], required: Sequence[str]) -> None:
    """Refuse a batch without one of the ``required`` modalities (canonical names)."""
    for name in required:
        if name not in given:
            raise MspectmolError(f"the batch has no {name!r} spectra, which this model "
                                 f"requires; got {', '.join(given) or 'nothing'}")


def batch_size(present: Mapping[str, Any], modalities: Sequence[str]) -> int:
    """The common number of rows of the ``present`` spectra (arrays or tensors).

    Raises
    ------
    MspectmolError
        No modality of ``modalities`` present, different batch sizes, or an empty batch.
    """
    if not present:
        raise MspectmolError(f"the batch holds none of the modalities {', '.join(modalities)}")
    sizes = {m: int(x.shape[0]) for m, x in present.items()}
    size = next(iter(sizes.values()))
    if len(set(sizes.values())) != 1:
        raise MspectmolError(f"modalities have different batch sizes: {sizes}")
    if size == 0:
        raise MspectmolError("empty batch")
    return size
