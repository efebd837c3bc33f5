"""Model variants: named columns of a suite that train a registered model their own way.

A variant (``"pa_ib-no_mi2": {"model": "pa_ib", "config": {"alpha": 0}}``) trains the
registered ``model`` with its own model config and training settings; its name is the
row's ``model`` and part of the run key. The study suites ``augment`` (appendix Q,
Fig. 10a) and ``ablation`` (Fig. 11, Table 10, appendix L) are made of variants; a variant's
``group`` names its panel in the figures of :mod:`mspectmol.suites.study`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.registry import available_models, get_model_spec

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
#: Variant group drawn as a reference line in every panel of a figure, not as bars.
REFERENCE_GROUP = "reference"


@dataclass(frozen=True)
class Variant:
    """A table column training registered ``model`` with ``config`` and ``train`` settings.

    ``config`` overrides the model config (over the suite's ``model_config`` of ``model``);
    ``train`` overrides TrainConfig fields (over the suite's ``train``), e.g. ``augment``.
    ``group`` names the study it belongs to (a panel of the figure), ``title`` its column.
    """

    name: str
    model: str
    config: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    group: str = ""

    def to_dict(self) -> dict[str, Any]:
        """What identifies the variant's result (its title is display only)."""
        return {"model": self.model, "config": dict(self.config), "train": dict(self.train)}


def parse_variants(data: Mapping[str, Any] | None, source: str, *, forbidden: Sequence[str],
                   train_fields: Sequence[str]) -> dict[str, Variant]:
    """The ``variants`` object of a suite: name -> ``{model, config, train, title, group}``.

    Names are a-z, 0-9, ``_``, ``.`` and ``-`` without ``__`` (they enter run keys) and must
    not be a registered model's name; ``train`` keys must be TrainConfig fields outside
    ``forbidden``.

    Raises
    ------
    ConfigError
        For an invalid variant, naming ``source`` and the variant.
    """
    if not data:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: variants must be an object name -> variant")
    out = {}
    for name, spec in data.items():
        where = f"{source}: variant {name!r}"
        if not _NAME.fullmatch(str(name)) or "__" in str(name) or name in available_models():
            raise ConfigError(f"{where}: a variant name is a-z, 0-9, _, . and - without '__', "
                              "and not a registered model's name")
        if not isinstance(spec, Mapping) or "model" not in spec or set(spec) - {
                "model", "config", "train", "title", "group"}:
            raise ConfigError(f"{where}: expected an object with model and optionally config, "
                              f"train, title, group; got {spec!r}")
        config, train = spec.get("config", {}), spec.get("train", {})
        if not isinstance(config, Mapping) or not isinstance(train, Mapping):
            raise ConfigError(f"{where}: config and train must be objects")
        if bad := [k for k in train if k in forbidden or k not in train_fields]:
            raise ConfigError(f"{where}: train: {', '.join(bad)} cannot be set there")
        try:
            model = get_model_spec(str(spec["model"])).name
        except MspectmolError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        out[str(name)] = Variant(str(name), model, dict(config), dict(train),
                                 str(spec.get("title", "")), str(spec.get("group", "")))
    return out
