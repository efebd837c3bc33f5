"""What every row family of the structure suite shares: its options, the test molecules'
inputs, the models (loaded, or trained when missing) and the scoring of candidate lists.

A row's candidates are scored by :func:`score_row` (:mod:`~mspectmol.structure.metrics`):
top-1/5/10 by InChIKey connectivity block, validity, Tanimoto at 1 and 10 and MCES on the
first ``n_mces`` molecules (cached per pair, MCES costs about 0.2 s each).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from mspectmol.chem.molecules import heavy_atom_count
from mspectmol.data.dataset import EMBEDDED_DIR, EmbeddedDataset
from mspectmol.data.render_settings import RenderSettings
from mspectmol.data.rendering import PeakRenderer
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.structure.elucidation.elucidator import Elucidator
from mspectmol.structure.elucidation.service import ElucidationService
from mspectmol.structure.libraries.embedded import embedded_spectra
from mspectmol.structure.metrics import (
    MCES_INVALID,
    candidate_metrics,
    inchikey_block,
    mces,
    mces_score,
    top_k_accuracy,
)
from mspectmol.structure.model.io import load_structure_model
from mspectmol.structure.model.variants import MODALITIES, train_variant
from mspectmol.structure.pretrained import DEFAULT_STRUCTURE_MODEL
from mspectmol.structure.training import TrainSettings

log = logging.getLogger("mspectmol.benchmark")

DEFAULTS = {"n_test": 200, "n_val": 150, "n_mces": 40, "k": 10, "epochs": 8,
            "minutes": 14.0, "max_heavy": 9}
QUICK = {"n_test": 6, "n_val": 4, "n_mces": 2, "k": 3, "epochs": 1, "minutes": 0.0,
         "max_heavy": 9, "max_train": 48}
TINY = {"d_model": 32, "n_heads": 2, "n_decoder_layers": 1, "ff_dim": 64, "max_len": 48}
INPUTS = {"IR+1H+13C": (True, True, True), "IR": (True, False, False)}


@dataclass(frozen=True)
class SuiteOptions:
    """The suite's command-line settings (``mspectmol benchmark --suite structure``):
    ``--quick``, ``--set`` overrides, ``--epochs``, ``--max-train``, ``--threads``,
    ``--out``, the first of ``--seeds``, ``--data`` and ``--keep-models``."""

    quick: bool = False
    overrides: tuple[str, ...] = ()
    epochs: int | None = None
    max_train: int | None = None
    threads: int = 1
    out: Path = Path("benchmarks") / "results" / "structure"
    seed: int = 0
    data: Path | None = None
    keep_models: bool = False

    @classmethod
    def from_args(cls, args: Any) -> SuiteOptions:
        """From the ``mspectmol benchmark`` arguments (attributes of that name; absent ones
        take the defaults)."""
        seeds = getattr(args, "seeds", None) or [0]
        out = getattr(args, "out", None)
        data = getattr(args, "data", None)
        return cls(quick=bool(getattr(args, "quick", False)),
                   overrides=tuple(getattr(args, "overrides", None) or ()),
                   epochs=getattr(args, "epochs", None),
                   max_train=getattr(args, "max_train", None),
                   threads=int(getattr(args, "threads", None) or 1),
                   out=Path(out) if out else cls.out, seed=int(seeds[0]),
                   data=Path(data) if data else None,
                   keep_models=bool(getattr(args, "keep_models", False)))


def pick(idx: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded, sorted subset of ``n`` of ``idx`` (all of them when there are no more)."""
    if idx.size <= n:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))


def load_variant(variant: str, ctx: dict[str, Any]) -> Elucidator:
    """Load (or train and save) a variant's model; returns an Elucidator."""
    opts, out = ctx["opts"], ctx["out"] / "models" / variant
    shipped = DEFAULT_STRUCTURE_MODEL / "model.json"
    if variant == "pa_ib" and not ctx["quick"] and shipped.is_file():
        out = DEFAULT_STRUCTURE_MODEL
    if not (out / "model.json").is_file():
        settings = TrainSettings(epochs=opts["epochs"], max_minutes=opts["minutes"],
                                 seed=ctx["seed"])
        log.info("training the %s structure model (%d epochs)", variant, opts["epochs"])
        train_variant(ctx["ds"], variant, ctx["encoder"], ctx["ref"], out, settings,
                      max_train=opts.get("max_train", 0), size=TINY if ctx["quick"] else None)
    model, vocab, meta = load_structure_model(out)
    ctx["trained"][variant] = {"path": str(out), **{k: meta.training.get(k) for k in
                                                    ("n_train", "best_val_loss")},
                               "epochs": len(meta.training.get("epochs", []))}
    return Elucidator(model, vocab, meta, ctx["encoder"])


def elucidator(ctx: dict[str, Any], variant: str = "pa_ib") -> Elucidator:
    """A variant's Elucidator, loaded (or trained) once per run."""
    if ctx["elucidators"].get(variant) is None:
        ctx["elucidators"][variant] = load_variant(variant, ctx)
    return ctx["elucidators"][variant]


def service(ctx: dict[str, Any]) -> ElucidationService:
    """The elucidation service around the ``pa_ib`` Elucidator (the one the CLI uses)."""
    if "service" not in ctx:
        eluc = elucidator(ctx)
        ctx["service"] = ElucidationService(eluc, Path(ctx["trained"]["pa_ib"]["path"]))
    return ctx["service"]


def masked(spectra: dict[str, np.ndarray], use: tuple[bool, ...], mods: tuple[str, ...]
           ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``(n, points)`` spectra with the unused modalities zeroed, and the availability."""
    n = len(next(iter(spectra.values())))
    avail = np.tile(np.asarray(use, dtype=bool), (n, 1))
    return {m: spectra[m] if u else np.zeros_like(spectra[m])
            for m, u in zip(mods, use, strict=True)}, avail


def score_row(name: str, info: dict[str, Any], lists: list[list[str]], ctx: dict[str, Any],
              mces_k: tuple[int, ...]) -> dict[str, Any]:
    """A results row: the metrics of candidate ``lists`` against ``ctx["truths"]``, MCES on
    ``ctx["mces_rows"]`` at each of ``mces_k``."""
    truths = ctx["truths"]
    per = [candidate_metrics(c, t, (1, 5, 10), with_mces=False)
           for c, t in zip(lists, truths, strict=True)]
    ranks = [p["rank"] for p in per]
    valid = [p["valid"] for p in per if not np.isnan(p["valid"])]
    row = {"setting": name, **info, "n": len(lists),
           **{f"top{k}": top_k_accuracy(ranks, k) for k in (1, 5, 10)},
           "valid": float(np.mean(valid)) if valid else float("nan"),
           "tanimoto@1": float(np.mean([p["tanimoto@1"] for p in per])),
           "tanimoto@10": float(np.mean([p["tanimoto@10"] for p in per]))}
    sub = ctx["mces_rows"]
    row["n_mces"] = len(sub)
    for k in mces_k:
        dists, scores = [], []
        for i in sub:
            m = _mces_at(lists[i][:k], truths[i], ctx["mces_cache"])
            dists.append(m)
            scores.append(mces_score(m, heavy_atom_count(truths[i])))
        row[f"mces@{k}"], row[f"mces_score@{k}"] = float(np.mean(dists)), float(np.mean(scores))
    row["candidates"] = lists
    return row


def scored_subset(name: str, info: dict[str, Any], lists: list[list[str]],
                  truths: list[str], ctx: dict[str, Any], mces_k: tuple[int, ...]
                  ) -> dict[str, Any]:
    """:func:`score_row` of a subset of the test molecules (their ``truths``), MCES on its
    first ``n_mces``."""
    sub = {**ctx, "truths": truths,
           "mces_rows": list(range(min(ctx["opts"]["n_mces"], len(lists))))}
    return score_row(name, info, lists, sub, mces_k)


def _mces_at(cands: list[str], truth: str, cache: dict[tuple[str, str], float]) -> float:
    best = MCES_INVALID
    key = inchikey_block(truth)
    for c in cands:
        if inchikey_block(c) == key:
            return 0.0
        if (c, truth) not in cache:
            cache[(c, truth)] = mces(c, truth)
        best = min(best, cache[(c, truth)])
    return best


def small_dataset(seed: int, opts: dict[str, Any], path: Path | None) -> EmbeddedDataset:
    """A few molecules of each scaffold part (``--quick``), broadened without loading the
    whole dataset."""
    index = pq.read_table(Path(path or EMBEDDED_DIR) / "index.parquet")
    split = np.asarray(index.column("split_scaffold").to_pylist())
    heavy = index.column("heavy_atoms").to_numpy()
    small = heavy <= opts["max_heavy"]
    parts = {"train": opts.get("max_train", 48), "val": 3 * opts["n_val"],
             "test": 3 * opts["n_test"]}
    keep = np.sort(np.concatenate([pick(np.flatnonzero((split == p) & small), n, seed)
                                   for p, n in parts.items()]))
    ids = np.asarray(index.column("id").to_pylist())[keep]
    grids = {m: canonical_grid(m, 600) for m in MODALITIES}
    spectra = embedded_spectra(list(ids), grids)
    labels = np.asarray(index.column("labels").to_pylist(), dtype=np.uint8)[keep]
    return EmbeddedDataset(
        ids=ids, smiles=np.asarray(index.column("smiles").to_pylist())[keep],
        source=np.asarray(index.column("source").to_pylist())[keep], heavy_atoms=heavy[keep],
        labels=labels, spectra={m: np.stack([spectra[i][m] for i in ids]) for m in MODALITIES},
        grids=grids, splits={"scaffold": split[keep]})


def randomised_spectra(ids: np.ndarray, modalities: tuple[str, ...],
                       grids: dict[str, np.ndarray], path: Path | None = None
                       ) -> dict[str, np.ndarray]:
    """The molecules' stored peak lists rendered with every spectrum randomised (the
    sim-to-real randomisation, seed 0): observed spectra the ranking stage's simulator did
    not make."""
    renderer = PeakRenderer(np.asarray(ids), modalities, grids, RenderSettings(probability=1.0),
                            path=path)
    rng = np.random.default_rng(0)
    return {m: renderer.render(m, rng) for m in modalities}
