"""Reading configuration files (tier ladders, price overrides): the one place in ``core`` doing I/O."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from costaware.core.errors import ConfigurationError


def load_table_file(path: str | os.PathLike[str], *, what: str, holds: str) -> Mapping[str, Any]:
    """Read a configuration file (``.toml``, ``.json``, ``.yaml``/``.yml``) holding one table.

    ``what`` names the file in errors, ``holds`` what its top level must be.
    YAML needs PyYAML and TOML on Python 3.10 needs ``tomli``; without them the file is refused
    with a ConfigurationError saying so. Any unreadable or malformed file is a ConfigurationError.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {str(file)!r}: {exc.strerror or exc}") from None
    try:
        data = _parse(raw, suffix, f"{what} {str(file)!r}")
    except ConfigurationError:
        raise
    except Exception as exc:  # each parser has its own error class; all mean "malformed"
        raise ConfigurationError(f"{what} {str(file)!r} is not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{what} {str(file)!r} must hold {holds}, got {type(data).__name__}")
    return data


def _parse(raw: bytes, suffix: str, name: str) -> Any:
    if suffix == ".json":
        return json.loads(raw.decode("utf-8"))
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
            except ImportError:
                raise ConfigurationError(
                    f"{name}: reading TOML on Python 3.10 needs `pip install tomli`; or use JSON"
                ) from None
        return tomllib.loads(raw.decode("utf-8"))
    if suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ConfigurationError(
                f"{name}: YAML needs PyYAML (`pip install pyyaml`); or use TOML or JSON"
            ) from None
        return yaml.safe_load(raw.decode("utf-8"))
    raise ConfigurationError(f"{name}: unknown format, use .toml, .json or .yaml")
