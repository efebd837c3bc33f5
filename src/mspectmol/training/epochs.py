"""What each training epoch sees: randomised renderings, mixtures and the NMR corpus.

:func:`randomised_rendering` draws the training spectra anew every epoch from the dataset's
peak lists (and a randomised validation fold once); :func:`mixed_epochs` replaces a share of
each epoch's rows by two-molecule mixtures; :func:`with_nmr_corpus` appends drug-size
molecules with predicted NMR lines only (:mod:`mspectmol.data.nmr_corpus`) to the training
part.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.data.batches import SplitData, mix_molecules
from mspectmol.data.dataset import DATASET_MODALITIES, EmbeddedDataset
from mspectmol.data.nmr_corpus import NmrCorpus, corpus_renderer, corpus_split, nmr_corpus
from mspectmol.data.rendering import PeakRenderer, RenderSettings
from mspectmol.errors import MspectmolError
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.training.config import TrainConfig

log = logging.getLogger("mspectmol.training")


def randomised_rendering(train: SplitData, val: SplitData, ds: EmbeddedDataset,
                         config: TrainConfig, corpus: NmrCorpus | None = None
                         ) -> tuple[Any, SplitData]:
    """The per-epoch training renderings and the randomised validation fold.

    Epoch ``e`` renders the training spectra with ``default_rng([seed, 23, e])``; the
    validation fold is rendered once with ``default_rng([seed, 29])`` (a transfer-style
    fold: early stopping, calibration and thresholds see spectra unlike the fixed rendering).
    The test part keeps the dataset's rendering (the in-domain figure). Both use the
    settings of ``config.render_settings`` (:meth:`RenderSettings.from_dict`). The last
    ``len(corpus)`` training rows are the ``corpus``' (:func:`with_nmr_corpus`): their NMR
    lines are randomised after the dataset's rows, their other spectra stay missing.
    """
    path = Path(config.data) if config.data else None
    settings = RenderSettings.from_dict(config.render_settings)
    modalities = tuple(m for m in config.modalities if m in DATASET_MODALITIES)
    grids = {m: ds.grids[m] for m in modalities}

    def rendered(part: SplitData, rng: np.random.Generator, renderer: PeakRenderer
                 ) -> SplitData:
        spectra = dict(part.spectra)
        for m in modalities:
            spectra[m] = renderer.render(m, rng)
        return SplitData(part.ids, part.labels, spectra, part.available)

    n_data = len(train) - (len(corpus) if corpus is not None else 0)
    train_renderer = PeakRenderer(train.ids[:n_data], modalities, grids, settings, path=path)
    val_renderer = PeakRenderer(val.ids, modalities, grids, settings, path=path)
    val_fold = rendered(val, np.random.default_rng([config.seed, 29]), val_renderer)
    data_part = train.subset(np.arange(n_data)) if corpus is not None else train
    if corpus is not None:
        extra = corpus_renderer(corpus, grids, settings)
        corpus_part = train.subset(np.arange(n_data, len(train)))

    def render_epoch(epoch: int) -> SplitData:
        rng = np.random.default_rng([config.seed, 23, epoch])
        part = rendered(data_part, rng, train_renderer)
        if corpus is None:
            return part
        spectra = {m: extra.render(m, rng) if m in extra.modalities else x
                   for m, x in corpus_part.spectra.items()}
        return part.concat(SplitData(corpus_part.ids, corpus_part.labels, spectra,
                                     corpus_part.available))

    return render_epoch, val_fold


def mixed_epochs(render_epoch: Any, train: SplitData, config: TrainConfig) -> Any:
    """Epoch ``e``'s training split (``render_epoch(e)``, or ``train``) with ``config.mix``
    of its rows replaced by two-molecule mixtures drawn from ``default_rng([seed, 31, e])``
    (:func:`~mspectmol.data.batches.mix_molecules`)."""
    def mixed(epoch: int) -> SplitData:
        part = render_epoch(epoch) if render_epoch is not None else train
        return mix_molecules(part, config.mix, np.random.default_rng([config.seed, 31, epoch]))

    return mixed


def with_nmr_corpus(train: SplitData, ds: EmbeddedDataset, config: TrainConfig
                    ) -> tuple[NmrCorpus, SplitData]:
    """The NMR corpus of ``config.nmr_corpus`` molecules and the training part with its rows
    appended (:func:`mspectmol.data.nmr_corpus.corpus_split`)."""
    if tuple(GROUP_NAMES) != tuple(ds.label_names):
        raise MspectmolError("the NMR corpus is labelled with the 37 groups; this dataset has "
                             "other labels")
    corpus = nmr_corpus(config.nmr_corpus, workers=config.nmr_corpus_workers)
    grids = {m: ds.grids.get(m, canonical_grid(m, config.n_points)) for m in config.modalities}
    log.info("NMR corpus: %d drug-size molecules added to the %d training molecules (1H and "
             "13C only)", len(corpus), len(train))
    return corpus, train.concat(corpus_split(corpus, config.modalities, grids))
