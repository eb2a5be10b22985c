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
LLMMode = Literal["tools", "tools_strict", "json_schema", "json_object_schema", "json", "md_json"]
# The provider variables keep the names every OpenAI-compatible tool reads.
ENV_NAMES = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL"}
SECRET_FIELDS = frozenset({"openai_api_key", "api_keys"})


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
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, description="TCP port `attache serve` listens on.")] = 8000
    workers: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=64,
            description="Worker processes for `attache serve`; `/metrics` sums them all (multiprocess mode).",
        ),
    ] = 1
    shutdown_grace: Annotated[
        float,
        msgspec.Meta(
            ge=0, le=600, description="Seconds in-flight requests get to finish after SIGTERM before the worker exits."
        ),
    ] = 30.0
    log_level: Annotated[LogLevel, msgspec.Meta(description="Lowest level written to the JSON log on stdout.")] = "info"
    log_text: Annotated[
        bool,
        msgspec.Meta(
            description="Debug only: also log the news context and the model's assessment (never secrets). "
            "Needs ATTACHE_LOG_LEVEL=debug."
        ),
    ] = False
    api_keys: Annotated[
        str | None,
        msgspec.Meta(
            description="Client API keys: comma-separated, or the path of a file with one key per line (a mounted "
            "secret). When set, `/assess` and `/agents…` need `Authorization: Bearer <key>`. Unset: open, with a "
            "warning at start-up."
        ),
    ] = None
    rate_limit_per_minute: Annotated[
        int,
        msgspec.Meta(
            ge=0, description="Requests per minute per client key (per address when open), per worker; 0 disables."
        ),
    ] = 120
    max_inflight: Annotated[
        int,
        msgspec.Meta(
            ge=1, description="Assessments in flight per worker; above it `/assess` answers 503 `overloaded` at once."
        ),
    ] = 256
    max_body_bytes: Annotated[
        int,
        msgspec.Meta(ge=1024, description="Largest request body accepted, in bytes; above it 413 `payload_too_large`."),
    ] = 1_048_576
    openai_api_key: Annotated[
        str | None,
        msgspec.Meta(description="Provider API key. Never logged. Unset (and no base URL): `/assess` answers 503."),
    ] = None
    openai_base_url: Annotated[
        str | None,
        msgspec.Meta(
            description="Any OpenAI-compatible endpoint: OpenAI, Azure OpenAI (`…/openai/v1/`), vLLM, Ollama, "
            "llama.cpp. A local server needs no key."
        ),
    ] = None
    llm_model: Annotated[
        str | None,
        msgspec.Meta(description="Model for every assessment, overriding the prompt version's default."),
    ] = None
    llm_mode: Annotated[
        LLMMode,
        msgspec.Meta(
            description="How the schema reaches the model: `tools` (tool calling), `tools_strict` (tool calling "
            "with `strict: true`), `json_schema` (OpenAI's `response_format`), `json_object_schema` (`json_object` "
            "with the schema beside it, as llama-cpp-python's server takes it), or `json` / `md_json` (the schema "
            "in the prompt only). `json_schema` and `json_object_schema` send every limit the validators check."
        ),
    ] = "tools"
    llm_context_tokens: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="The model's context window in tokens (e.g. a local server's `n_ctx`); 0: unknown. A "
            "re-ask that could not fit in it with the version's output token limit is not sent.",
        ),
    ] = 0
    llm_timeout: Annotated[
        float,
        msgspec.Meta(gt=0, le=600, description="Total deadline in seconds for one assessment, retries included."),
    ] = 60.0
    llm_reasks: Annotated[
        int, msgspec.Meta(ge=0, le=5, description="Re-asks when the model's output fails schema validation.")
    ] = 2
    llm_transport_retries: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=5,
            description="Retries of one provider call on 429, 5xx or connection errors (honours Retry-After).",
        ),
    ] = 2
    max_context_chars: Annotated[
        int, msgspec.Meta(ge=1, description="Longest `context` accepted by `/assess`, in characters.")
    ] = 20_000

    @property
    def registry_path(self) -> Path:
        return Path(self.registry_dir)

    @property
    def provider_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={'***' if name in SECRET_FIELDS and value else repr(value)}"
            for name, value in msgspec.structs.asdict(self).items()
        )
        return f"Settings({fields})"

    def client_keys(self) -> frozenset[str]:
        """The client API keys: the value itself, or the lines of the file it names."""
        if not self.api_keys:
            return frozenset()
        source = self.api_keys
        if "," not in source and Path(source).is_file():
            source = Path(source).read_text(encoding="utf-8").replace("\n", ",")
        return frozenset(key.strip() for key in source.split(",") if key.strip())

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
    return ENV_NAMES.get(field, f"{ENV_PREFIX}{field.upper()}")


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
        elif default is None:
            default = "unset"
        rows.append((env_name(field.name), str(default), meta.description or ""))
    return rows


def _name_the_variable(message: str) -> str:
    match = re.search(r"at `\$\.(\w+)`", message)
    if not match:
        return f"invalid settings: {message}"
    field = match.group(1)
    reason = message.split(" - at ")[0]
    return f"{env_name(field)}: {reason}"
