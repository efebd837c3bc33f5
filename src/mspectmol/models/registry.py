"""Models by name: builders, config classes and the conventions the training harness relies on.

Every trainable model is registered under a name with :func:`register_model`:

* ``kind="neural"``: ``builder(config)`` returns a :class:`torch.nn.Module` whose
  ``forward(spectra, available=None)`` takes ``{modality: (batch, n_points) tensor}`` and
  optional ``{modality: (batch,) bool}`` availability masks and returns logits
  ``(batch, n_labels)`` (or a :class:`~mspectmol.models.pa_ib.PAIBOutput`);
* ``kind="classical"``: ``builder(config)`` returns an object with ``fit(X, y, X_val, y_val)``,
  ``predict_proba(X) -> (n, n_labels)``, ``to_state() -> (json_dict, {name: ndarray})`` and a
  classmethod ``from_state(meta, arrays)``; ``X`` is ``{modality: (n, n_points) ndarray}``.

``config_cls`` is a dataclass (ideally with ``to_dict``/``from_dict``). The harness fills the
fields it owns by name, when the class has them: ``primary`` and ``auxiliary`` (PA-IB style)
or ``modalities`` (primary first), ``n_points`` and ``n_labels``; every other field comes from
the class defaults, the registration's ``defaults`` and the user's overrides, in that order.

A registration also gives the model's ``title``, the column title of the benchmark tables
(:func:`mspectmol.suites.cells.model_title`), and a one-line ``description``; the names of
:func:`available_models` are the choices of the command line and of suite files.

Built in: ``pa_ib`` (:class:`~mspectmol.models.pa_ib.PAIBModel`). The Jung et al. CNN
(:mod:`~mspectmol.models.baselines_nn`: ``cnn`` with the fusion chosen by the config, and
``cnn_early``, ``cnn_concat``, ``cnn_late``) and the other baselines register themselves when
their modules are imported; a name that is not registered yet imports the plugin modules
first, so loading a PA-IB model imports none of them.
Further models register themselves when their modules (:data:`PLUGIN_MODULES`) are
imported; :func:`get_model_spec` and :func:`available_models` import them lazily. Adding a
model is a module that calls :func:`register_model` at import time plus its entry in
:data:`PLUGIN_MODULES`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
from mspectmol.spectra.modalities import get_modality

log = logging.getLogger("mspectmol.models")

KINDS = ("neural", "classical")
#: Modules that register further models when imported (absent modules are skipped); a
#: module added here is imported by the next :func:`load_plugins`.
PLUGIN_MODULES = (
    "mspectmol.models.baselines_nn",
    "mspectmol.models.baselines_mlp",
    "mspectmol.models.fusion",
    "mspectmol.models.baselines_transformer",
    "mspectmol.models.baselines_classical",
    "mspectmol.models.baselines_xgboost",
    "mspectmol.models.symmetric_ib",
)
#: Config fields the training harness sets from its own settings.
HARNESS_FIELDS = ("primary", "auxiliary", "modalities", "n_points", "n_labels")


def config_field_names(config_cls: type) -> tuple[str, ...]:
    """Field names of a config dataclass (or the keyword parameters of another class)."""
    if dataclasses.is_dataclass(config_cls):
        return tuple(f.name for f in fields(config_cls))
    params = inspect.signature(config_cls).parameters.values()
    return tuple(p.name for p in params
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config as a JSON-ready dict (``to_dict()`` when the class has one)."""
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if dataclasses.is_dataclass(config):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
    raise ConfigError(f"cannot serialise a {type(config).__name__} config: it is neither a "
                      "dataclass nor has to_dict()")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model; see :func:`register_model`."""

    name: str
    kind: str
    builder: Callable[[Any], Any]
    config_cls: type
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fixed: frozenset[str] = frozenset()
    description: str = ""
    title: str = ""

    def config_from_dict(self, data: Mapping[str, Any]) -> Any:
        """Rebuild a config from its dict (``from_dict`` when the class has one).

        Raises
        ------
        ConfigError
            For unknown keys or values the config class refuses.
        """
        unknown = sorted(set(data) - set(config_field_names(self.config_cls)))
        if unknown:
            raise ConfigError(f"model {self.name!r}: unknown config key(s) "
                              f"{', '.join(unknown)}; known: "
                              f"{', '.join(config_field_names(self.config_cls))}")
        try:
            if hasattr(self.config_cls, "from_dict"):
                return self.config_cls.from_dict(dict(data))
            return self.config_cls(**data)
        except (MspectmolError, TypeError, ValueError) as exc:
            raise ConfigError(f"model {self.name!r}: invalid config: {exc}") from None

    def make_config(self, overrides: Mapping[str, Any] | None = None, *,
                    primary: str | None = None, auxiliary: Sequence[str] = (),
                    n_points: int | None = None, n_labels: int | None = None) -> Any:
        """The model config for a training run.

        Parameters
        ----------
        overrides
            User settings of the config's own fields (e.g. ``{"dropout": 0.3}``).
        primary, auxiliary
            Modalities; written to ``primary``/``auxiliary`` or ``modalities`` fields.
        n_points, n_labels
            Grid size and label count, written when the class has such fields.

        Raises
        ------
        ConfigError
            When an override contradicts a harness setting or a fixed key, or is invalid.
        """
        names = config_field_names(self.config_cls)
        harness: dict[str, Any] = {}
        if primary is not None:
            mods = (get_modality(primary).name, *(get_modality(a).name for a in auxiliary))
            if "primary" in names:
                harness["primary"] = mods[0]
                if "auxiliary" in names:
                    harness["auxiliary"] = mods[1:]
            elif "modalities" in names:
                harness["modalities"] = mods
        for key, value in (("n_points", n_points), ("n_labels", n_labels)):
            if value is not None and key in names:
                harness[key] = int(value)
        data = {**self.defaults, **dict(overrides or {})}
        for key in sorted(self.fixed & set(overrides or {})):
            if overrides[key] != self.defaults[key]:
                raise ConfigError(f"model {self.name!r} fixes {key}={self.defaults[key]!r}; "
                                  f"got {overrides[key]!r} (choose another model name)")
        for key, value in harness.items():
            if key in (overrides or {}) and _normal(overrides[key]) != _normal(value):
                raise ConfigError(f"model {self.name!r}: {key}={overrides[key]!r} in the model "
                                  f"config contradicts the training setting {value!r}; set "
                                  "it in the training config instead")
            data[key] = value
        return self.config_from_dict(data)

    def build(self, config: Any) -> Any:
        """Build an untrained model from a config."""
        try:
            return self.builder(config)
        except MspectmolError as exc:
            raise ConfigError(f"model {self.name!r}: {exc}") from None

    def load_state(self, meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> Any:
        """Rebuild a fitted classical model from :meth:`to_state` output."""
        loader = getattr(self.builder, "from_state", None)
        if loader is None:
            raise ConfigError(f"model {self.name!r} has no from_state(): register the model "
                              "class itself as builder")
        return loader(dict(meta), dict(arrays))


def _normal(value: Any) -> Any:
    """Lists and tuples compare equal (JSON turns tuples into lists)."""
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v) for v in value)
    if isinstance(value, str):
        try:
            return get_modality(value).name
        except MspectmolError:
            return value
    return value


_REGISTRY: dict[str, ModelSpec] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
#: Plugin modules already imported (or tried).
_PLUGINS_TRIED: set[str] = set()


def register_model(name: str, kind: str = "neural", builder: Callable[[Any], Any] | None = None,
                   config_cls: type | None = None, *,
                   defaults: Mapping[str, Any] | None = None, fixed: Sequence[str] = (),
                   description: str = "", title: str = "", replace: bool = False) -> ModelSpec:
    """Register a model under ``name``.

    Parameters
    ----------
    name
        Lower-case identifier used in configs and model files (``[a-z0-9_]+``).
    kind
        ``"neural"`` or ``"classical"`` (see the module docstring for the contracts).
    builder
        ``builder(config) -> model``. For classical models pass the class itself, whose
        ``from_state`` classmethod rebuilds saved models.
    config_cls
        The config dataclass.
    defaults
        Config values that differ from the class defaults for this name.
    fixed
        Keys of ``defaults`` that users may not override (e.g. ``fusion`` of ``cnn_late``).
    description
        One line for listings.
    title
        Column title in benchmark tables (the paper's name of the model where it has one,
        e.g. ``"1D-CNN"``); without one a table shows the name alone.
    replace
        Allow replacing an existing registration (otherwise a duplicate name is an error).
    """
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ConfigError(f"model names must be lower-case letters, digits and '_': {name!r}")
    if kind not in KINDS:
        raise ConfigError(f"model kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if builder is None or config_cls is None:
        raise ConfigError(f"model {name!r}: register_model needs a builder and a config_cls")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"model {name!r} is already registered")
    defaults = dict(defaults or {})
    missing = sorted(set(fixed) - set(defaults))
    if missing:
        raise ConfigError(f"model {name!r}: fixed keys need defaults: {', '.join(missing)}")
    spec = ModelSpec(name, kind, builder, config_cls, defaults, frozenset(fixed), description,
                     str(title))
    _REGISTRY[name] = spec
    return spec


def unregister_model(name: str) -> None:
    """Remove a registration (e.g. one made by a test); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def load_plugins() -> None:
    """Import each module of :data:`PLUGIN_MODULES` not tried yet; missing modules are
    skipped, failures remembered."""
    for module in PLUGIN_MODULES:
        if module in _PLUGINS_TRIED:
            continue
        _PLUGINS_TRIED.add(module)
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                _PLUGIN_ERRORS[module] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the others
            _PLUGIN_ERRORS[module] = f"{type(exc).__name__}: {exc}"
            log.warning("could not import %s: %s", module, exc)


def available_models() -> tuple[str, ...]:
    """Names of all registered models (after importing the plugin modules), sorted."""
    load_plugins()
    return tuple(sorted(_REGISTRY))


def get_model_spec(name: str) -> ModelSpec:
    """The registration of ``name``.

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the known ones and failed plugin imports).
    """
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        load_plugins()
    if key not in _REGISTRY:
        hint = "".join(f"; {m} failed to import ({e})" for m, e in _PLUGIN_ERRORS.items())
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}{hint}")
    return _REGISTRY[key]


def _register_builtins() -> None:
    register_model("pa_ib", "neural", PAIBModel, PAIBConfig, title="MSpecTmol",
                   description="primary-auxiliary information bottleneck (the paper's model)")


_register_builtins()
