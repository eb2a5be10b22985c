"""Settings, read from the environment in one place.

Order of precedence: an explicit argument, then the environment variable, then the default.
An empty environment variable counts as unset. A value that does not parse stops start-up
with a message naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

ENV_PREFIX = "ATTACHE_"
DEFAULT_REGISTRY_DIR = Path(__file__).resolve().parent.parent / "registry"
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attache"

LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(ValueError):
    """A setting from the environment does not parse; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The service's settings; each field is read from `ATTACHE_<FIELD>`."""

    registry_dir: Annotated[
        str, msgspec.Meta(description="Folder holding the persona registry (one folder per persona).")
    ] = str(DEFAULT_REGISTRY_DIR)
    cache_dir: Annotated[
        str,
        msgspec.Meta(
            description="Folder for the registry load cache (compiled templates); `off` disables it. "
            "Only the service should be able to write it."
        ),
    ] = str(DEFAULT_CACHE_DIR)
    host: Annotated[str, msgspec.Meta(description="Interface `attache serve` binds to.")] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, description="TCP port `attache serve` listens on.")] = (
        8000
    )
    log_level: Annotated[
        LogLevel, msgspec.Meta(description="Lowest level written to the JSON log on stdout.")
    ] = "info"

    @property
    def registry_path(self) -> Path:
        return Path(self.registry_dir)

    @property
    def cache_path(self) -> Path | None:
        return None if self.cache_dir == "off" else Path(self.cache_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `environ` (default `os.environ`); keyword overrides win."""
        environ = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            value = environ.get(env_name(name), "")
            if value != "":
                raw[name] = value
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(_name_the_variable(str(exc))) from None


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting; the README table is checked against it."""
    rows = []
    defaults = Settings()
    for field in msgspec.structs.fields(Settings):
        meta = next(m for m in getattr(field.type, "__metadata__", ()) if isinstance(m, msgspec.Meta))
        default = getattr(defaults, field.name)
        if field.name == "registry_dir":
            default = "the repository's `registry/`"
        elif field.name == "cache_dir":
            default = "`$XDG_CACHE_HOME/attache`, else `~/.cache/attache`"
        rows.append((env_name(field.name), str(default), meta.description or ""))
    return rows


def _name_the_variable(message: str) -> str:
    match = re.search(r"at `\$\.(\w+)`", message)
    if not match:
        return f"invalid settings: {message}"
    field = match.group(1)
    reason = message.split(" - at ")[0]
    return f"{env_name(field)}: {reason}"
