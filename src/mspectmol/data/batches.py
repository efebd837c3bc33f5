"""Training arrays from the embedded dataset: splits, availability masks, batches.

:class:`SplitData` holds one split for a set of modalities: float32 spectra
``(n, n_points)``, a boolean availability mask per modality (False where the modality is not
in the dataset or a row is not finite; such rows are zeroed), float32 labels and the
molecule ids. A row that is all zero but finite (e.g. the 1H spectrum of a molecule without
hydrogen) counts as available: "no signal" is information.

Shuffling is deterministic: :func:`epoch_order` draws the permutation of epoch ``e`` from
``numpy.random.default_rng([seed, e])``, so a run can be repeated or resumed at any epoch;
augmentation draws from an explicit generator (:func:`augment_rng`). In distributed
training, :func:`iterate_batches` gives a rank its share of each global batch (see
:mod:`mspectmol.training.distributed`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.spectra.augmentation import Augmenter

#: Stream tags that keep the generators of shuffling, augmentation and subsetting apart.
_SHUFFLE, _AUGMENT, _SUBSET = 0, 1, 2


def shard_positions(n: int, this_rank: int, world: int) -> tuple[np.ndarray, float]:
    """Positions of a rank's rows in a global batch of ``n`` rows, and its loss weight.

    Rank ``r`` takes positions ``r::world`` with weight ``world * rows / n``; a rank left
    without rows (``n <= r``) takes position 0 with weight 0, so that every rank runs a
    forward and backward pass (DDP needs all of them) without changing the gradient.
    """
    positions = np.arange(this_rank, n, world)
    if positions.size == 0:
        return np.zeros(1, dtype=np.int64), 0.0
    return positions, world * positions.size / n


@dataclass
class SplitData:
    """One split's arrays (row ``i`` is molecule ``ids[i]`` everywhere)."""

    ids: np.ndarray
    labels: np.ndarray
    spectra: dict[str, np.ndarray]
    available: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities in input order."""
        return tuple(self.spectra)

    def subset(self, rows: np.ndarray) -> SplitData:
        """The rows ``rows`` (indices or a boolean mask) as a new :class:`SplitData`."""
        return SplitData(self.ids[rows], self.labels[rows],
                         {m: x[rows] for m, x in self.spectra.items()},
                         {m: a[rows] for m, a in self.available.items()})

    def concat(self, other: SplitData) -> SplitData:
        """This split's rows followed by ``other``'s (same modalities and labels)."""
        if other.modalities != self.modalities or other.labels.shape[1:] != \
                self.labels.shape[1:]:
            raise MspectmolError("cannot join splits with different modalities or labels")
        return SplitData(np.concatenate([self.ids, other.ids]),
                         np.concatenate([self.labels, other.labels]),
                         {m: np.concatenate([x, other.spectra[m]])
                          for m, x in self.spectra.items()},
                         {m: np.concatenate([a, other.available[m]])
                          for m, a in self.available.items()})

    def numpy_inputs(self) -> dict[str, np.ndarray]:
        """``{modality: (n, n_points) float32}`` for classical models (missing rows zero)."""
        return dict(self.spectra)


@dataclass
class TorchBatch:
    """A mini-batch as tensors.

    ``weight`` scales the batch's loss: 1 for a whole batch; for a rank's share of a global
    batch ``world * rows / global rows``, and 0 for the filler row of a rank left without
    rows (:func:`shard_positions`).
    """

    spectra: dict[str, Tensor]
    available: dict[str, Tensor]
    labels: Tensor
    weight: float = 1.0

    @property
    def n_rows(self) -> int:
        """Rows that count (0 for a filler row)."""
        return len(self) if self.weight else 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> TorchBatch:
        """The batch on ``device`` (itself when already there)."""
        if torch.device(device) == self.labels.device:
            return self
        return TorchBatch({m: x.to(device, non_blocking=True) for m, x in self.spectra.items()},
                          {m: a.to(device, non_blocking=True) for m, a in self.available.items()},
                          self.labels.to(device, non_blocking=True), self.weight)


def make_split(ids: Sequence[str] | np.ndarray, labels: np.ndarray,
               spectra: Mapping[str, np.ndarray | None], n_points: int | None = None
               ) -> SplitData:
    """Validate arrays and build a :class:`SplitData`.

    Parameters
    ----------
    ids
        One id per molecule.
    labels
        ``(n, n_labels)`` 0/1 labels.
    spectra
        ``{modality: (n, n_points) array or None}``; None (modality not available at all)
        gives zeros and an all-False mask; non-finite rows are zeroed and masked.
    n_points
        Expected spectrum length (taken from the first array when None).

    Raises
    ------
    MspectmolError
        For mismatched lengths or shapes and labels that are not 0/1.
    """
    ids_arr = np.asarray(ids).astype(str)
    n = ids_arr.size
    y = np.asarray(labels)
    if y.ndim != 2 or y.shape[0] != n:
        raise MspectmolError(f"labels must have shape ({n}, n_labels), got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise MspectmolError("labels must be 0/1")
    if n_points is None:
        given = [x for x in spectra.values() if x is not None]
        if not given:
            raise MspectmolError("no spectra given")
        n_points = int(np.shape(given[0])[-1])
    out_x: dict[str, np.ndarray] = {}
    out_a: dict[str, np.ndarray] = {}
    for name, x in spectra.items():
        if x is None:
            out_x[name] = np.zeros((n, n_points), dtype=np.float32)
            out_a[name] = np.zeros(n, dtype=bool)
            continue
        arr = np.asarray(x, dtype=np.float32)
        if arr.shape != (n, n_points):
            raise MspectmolError(f"{name} spectra must have shape ({n}, {n_points}), "
                                 f"got {arr.shape}")
        ok = np.isfinite(arr).all(axis=1)
        if not ok.all():
            arr = np.where(ok[:, None], arr, np.float32(0.0))
        out_x[name], out_a[name] = arr, ok
    return SplitData(ids_arr, y.astype(np.float32), out_x, out_a)


def subset_rows(rows: np.ndarray, max_n: int | None, seed: int) -> np.ndarray:
    """At most ``max_n`` of ``rows``, chosen by ``seed`` and kept in their original order."""
    if max_n is None or rows.size <= max_n:
        return rows
    rng = np.random.default_rng([seed, _SUBSET])
    return np.sort(rng.choice(rows, size=int(max_n), replace=False))


def split_data(dataset, modalities: Sequence[str], scheme: str, part: str, *,
               max_n: int | None = None, seed: int = 0) -> SplitData:
    """One split of an :class:`~mspectmol.data.dataset.EmbeddedDataset`.

    Parameters
    ----------
    dataset
        The loaded dataset (``spectra``, ``labels``, ``ids``, ``split_indices``).
    modalities
        Modalities in input order; those the dataset lacks become all-missing.
    scheme, part
        ``"random"``/``"scaffold"`` and ``"train"``/``"val"``/``"test"``.
    max_n, seed
        Optional seeded subset size (for quick runs).

    Raises
    ------
    ConfigError
        When the split is empty or no requested modality is in the dataset.
    """
    if not any(m in dataset.spectra for m in modalities):
        raise ConfigError(f"the dataset has none of {', '.join(modalities)}; it has "
                          f"{', '.join(dataset.spectra) or 'no spectra'}")
    rows = subset_rows(dataset.split_indices(scheme, part), max_n, seed)
    if rows.size == 0:
        raise ConfigError(f"the {scheme} split has no {part} molecules")
    spectra = {m: dataset.spectra[m][rows] if m in dataset.spectra else None
               for m in modalities}
    n_points = next(x.shape[1] for x in spectra.values() if x is not None)
    return make_split(dataset.ids[rows], dataset.labels[rows], spectra, n_points)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled row order of ``epoch`` (same seed and epoch, same order)."""
    return np.random.default_rng([seed, _SHUFFLE, epoch]).permutation(n)


def augment_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of the augmentations applied in ``epoch``."""
    return np.random.default_rng([seed, _AUGMENT, epoch])


def to_batch(data: SplitData, rows: np.ndarray, *, augmenter: Augmenter | None = None,
             rng: np.random.Generator | None = None, keep: np.ndarray | None = None,
             weight: float = 1.0, dropout: Mapping[str, float] | None = None) -> TorchBatch:
    """Rows of ``data`` as tensors, optionally augmented (spectra only; masks kept).

    ``keep`` (positions in ``rows``) selects part of the batch after augmenting all of it,
    so that a rank's share of a global batch is augmented as in a single process.
    ``dropout`` maps modalities to the probability that a row's spectrum of that modality is
    hidden (zeroed and marked unavailable; modality dropout, so a model learns to predict
    without it); drawn from ``rng`` for the whole batch after the augmentation. A row that
    would be left without any spectrum (the NMR corpus' rows have no primary) keeps its own.
    """
    augment = augmenter is not None and bool(augmenter.names)
    dropout = {m: float(p) for m, p in (dropout or {}).items() if p > 0 and m in data.spectra}
    if (augment or dropout) and rng is None:
        raise MspectmolError("augmentation and modality dropout need an explicit numpy "
                             "Generator")
    rows = np.asarray(rows)
    mine = rows if keep is None else rows[keep]
    spectra = {}
    for name, x in data.spectra.items():
        if augment:
            part = augmenter(x[rows], rng).astype(np.float32, copy=False)
            part = part if keep is None else part[keep]
        else:
            part = x[mine]
        spectra[name] = torch.from_numpy(np.ascontiguousarray(part))
    available = {m: torch.from_numpy(a[mine]) for m, a in data.available.items()}
    hidden = {}
    for name, p in dropout.items():
        drawn = rng.random(rows.size) < p
        hidden[name] = torch.from_numpy(drawn if keep is None else drawn[keep])
    if hidden:  # a row keeps its spectra when dropout would leave it none
        left = torch.stack([a & ~hidden[m] if m in hidden else a
                            for m, a in available.items()]).any(dim=0)
        for name, h in hidden.items():
            h = h & left
            available[name] = available[name] & ~h
            spectra[name] = spectra[name].masked_fill(h.unsqueeze(1), 0.0)
    return TorchBatch(spectra, available, torch.from_numpy(data.labels[mine]), weight)


def iterate_batches(data: SplitData, batch_size: int, *, order: np.ndarray | None = None,
                    augmenter: Augmenter | None = None, rng: np.random.Generator | None = None,
                    rank: int = 0, world_size: int = 1,
                    dropout: Mapping[str, float] | None = None) -> Iterator[TorchBatch]:
    """Mini-batches of ``batch_size`` rows in ``order`` (default: the stored order).

    Augmentation, when given, uses ``rng`` (required then) batch after batch, so the same
    generator state gives the same batches. With ``world_size > 1`` each batch is rank
    ``rank``'s share of the global batch (rows ``rank::world_size`` of it, weighted as
    :func:`shard_positions` says); every rank gets as many
    batches as a single process. ``dropout``: modality dropout (:func:`to_batch`).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= rank < world_size:
        raise ConfigError(f"need 0 <= rank < world_size, got rank {rank}, world {world_size}")
    rows = np.arange(len(data)) if order is None else np.asarray(order)
    for start in range(0, rows.size, batch_size):
        part = rows[start:start + batch_size]
        if world_size == 1:
            yield to_batch(data, part, augmenter=augmenter, rng=rng, dropout=dropout)
            continue
        keep, weight = shard_positions(part.size, rank, world_size)
        yield to_batch(data, part, augmenter=augmenter, rng=rng, keep=keep, weight=weight,
                       dropout=dropout)


def dataset_hash(ids: Sequence[str] | np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of molecule ids (in order) and their labels: identifies the training data."""
    h = hashlib.sha256()
    for key in np.asarray(ids).astype(str):
        h.update(key.encode("utf-8"))
        h.update(b"\n")
    y = np.ascontiguousarray(np.asarray(labels), dtype=np.uint8)
    h.update(f"{y.shape}".encode())
    h.update(y.tobytes())
    return h.hexdigest()


#: Range of the partner's weight in a two-molecule mixture (:func:`mix_molecules`).
MIX_WEIGHTS = (0.3, 1.0)


def mix_molecules(part: SplitData, share: float, rng: np.random.Generator,
                  weights: tuple[float, float] = MIX_WEIGHTS) -> SplitData:
    """Replace a ``share`` of the rows by two-molecule mixtures.

    Row ``i`` becomes ``x_i + w x_j`` for a random partner ``j != i`` and a weight ``w``
    drawn uniformly from ``weights`` (the same for every modality of the row), rescaled to
    the larger of the two maxima (max-normalised spectra stay so); its labels become the
    union of both molecules' groups. Such spectra are crowded like those of drug-size
    molecules, which hold several groups each (absorbances and NMR line areas add up in a
    mixture). A modality stays available only
    where both molecules have it. Rows keep their order and ids, so an epoch's rows are
    the same as without mixing.

    Raises
    ------
    ConfigError
        For a share outside [0, 1] or a weight range outside (0, inf).
    """
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"mix must be in [0, 1], got {share}")
    low, high = weights
    if not 0.0 < low <= high:
        raise ConfigError(f"mixture weights must satisfy 0 < low <= high, got {weights}")
    n = len(part)
    n_mix = int(round(share * n))
    if n < 2 or n_mix == 0:
        return part
    rows = rng.choice(n, size=n_mix, replace=False)
    partners = (rows + rng.integers(1, n, size=n_mix)) % n
    w = rng.uniform(low, high, size=n_mix).astype(np.float32)
    labels = part.labels.copy()
    labels[rows] = np.maximum(labels[rows], labels[partners])
    spectra, available = {}, {}
    for m, x in part.spectra.items():
        a = part.available[m].copy()
        both = a[rows] & a[partners]
        y = x.copy()
        mixed = x[rows] + w[:, None] * x[partners]
        scale = np.maximum(np.abs(x[rows]).max(axis=1, keepdims=True),
                           np.abs(x[partners]).max(axis=1, keepdims=True))
        peak = np.abs(mixed).max(axis=1, keepdims=True)
        mixed *= scale / np.where(peak > 0, peak, 1.0)  # an all-zero row stays zero
        y[rows] = np.where(both[:, None], mixed, 0.0).astype(x.dtype)
        a[rows] = both
        spectra[m], available[m] = y, a
    return SplitData(part.ids, labels, spectra, available)
