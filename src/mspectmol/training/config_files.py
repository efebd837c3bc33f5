"""Training settings files: JSON or TOML config files, packaged configs and ``--set`` items."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mspectmol.errors import ConfigError
from mspectmol.training.coerce import table

#: Folder of the packaged configs (``mspectmol/configs/<name>.json``).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Settings from a ``.json`` or ``.toml`` file.

    Raises
    ------
    ConfigError
        When the file is missing, unreadable or not valid JSON/TOML, naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc})") from None
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise ConfigError(f"{p}: TOML configs need Python 3.11 or later; use JSON") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML ({exc})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{p}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must hold an object of settings")
    return data


def packaged_config(name: str) -> Path:
    """Path of a packaged config (``mspectmol/configs/<name>.json``)."""
    path = CONFIG_DIR / f"{name.removesuffix('.json')}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise ConfigError(f"no packaged config {name!r}; known: {', '.join(known)}")
    return path


def parse_override(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)``; the value as JSON when it parses, else a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw.strip()
    return key, value


def apply_override(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (or ``<table>.<name>`` of model_config or render_settings) in a settings
    dict, in place."""
    head, dot, rest = key.partition(".")
    if dot:
        if head not in ("model_config", "render_settings") or not rest:
            raise ConfigError(f"--set {key}: only model_config.<name> and "
                              "render_settings.<name> may be dotted")
        data[head] = {**table(data.get(head, {})), rest: value}
    else:
        data[key] = value
