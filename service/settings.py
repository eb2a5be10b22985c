"""Settings, read from the environment in one place.

Order of precedence: an explicit argument, then the environment variable, then the default.
An empty environment variable counts as unset. A value that does not parse stops start-up
with a message naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

ENV_PREFIX = "ATTACHE_"
DEFAULT_REGISTRY_DIR = Path(__file__).resolve().parent.parent / "registry"
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attache"


def default_data_dir() -> str:
    """`$XDG_DATA_HOME/attache`, read when settings are built (tests point it at a temporary folder)."""
    return str(Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "attache")


# The largest valid /assess body, when every character is sent as a JSON escape of a
# surrogate pair (12 bytes): context + question (2,000) + source (200) + agent and version
# (100 each), plus the keys. The default body limit is that with 25 % margin.
ESCAPED_CHAR_BYTES = 12
OTHER_TEXT_CHARS = 2_000 + 200 + 100 + 100

LogLevel = Literal["debug", "info", "warning", "error"]
LLMMode = Literal["tools", "tools_strict", "json_schema", "json_object_schema", "json", "md_json"]
# The provider variables keep the names every OpenAI-compatible tool reads.
ENV_NAMES = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL"}
SECRET_FIELDS = frozenset({"openai_api_key", "api_keys", "admin_keys", "caller_secret", "database_url", "redis_url"})


class SettingsError(ValueError):
    """A setting from the environment does not parse; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The service's settings; each field is read from `ATTACHE_<FIELD>`."""

    registry_dir: Annotated[
        str, msgspec.Meta(description="Folder holding the persona registry (one folder per persona).")
    ] = str(DEFAULT_REGISTRY_DIR)
    registry_reload_seconds: Annotated[
        float,
        msgspec.Meta(
            ge=0,
            le=3600,
            description="Seconds between checks of the registry's lock and persona files; a change is validated, "
            "then served without a restart (a Kubernetes ConfigMap update included). SIGHUP reloads at once. "
            "An invalid registry is not served: the last good one is. 0 turns the checks off.",
        ),
    ] = 10.0
    cache_dir: Annotated[
        str,
        msgspec.Meta(
            description="Folder for the registry load cache (start-up checks already passed: data, never code); "
            "`off` disables it. A folder that other users can write is not used."
        ),
    ] = str(DEFAULT_CACHE_DIR)
    data_dir: Annotated[
        str,
        msgspec.Meta(
            description="Folder for what the service keeps between starts (the caller secret; the embedded store)."
        ),
    ] = msgspec.field(default_factory=default_data_dir)
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
        Annotated[float, msgspec.Meta(ge=0, le=3600)] | None,
        msgspec.Meta(
            description="Seconds in-flight and async assessments get to finish after SIGTERM before the worker "
            "exits. Unset: ATTACHE_LLM_TIMEOUT + 10, so an assessment started just before SIGTERM still finishes."
        ),
    ] = None
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
            description="Client API keys, comma-separated (each at least 32 characters). When set (or "
            "ATTACHE_API_KEYS_FILE), `/assess` and `/agents…` need `Authorization: Bearer <key>`. Neither set: open, "
            "with a warning at start-up."
        ),
    ] = None
    api_keys_file: Annotated[
        str | None,
        msgspec.Meta(
            description="Path of a file with one client key per line (a mounted secret). A missing, unreadable or "
            "empty file stops start-up."
        ),
    ] = None
    admin_keys: Annotated[
        str | None,
        msgspec.Meta(
            description="Admin keys, comma-separated (same rules as ATTACHE_API_KEYS): they call the API like client "
            "keys and also see every caller's assessments under `/assessments`."
        ),
    ] = None
    admin_keys_file: Annotated[
        str | None,
        msgspec.Meta(description="Path of a file with one admin key per line (same rules as ATTACHE_API_KEYS_FILE)."),
    ] = None
    caller_secret: Annotated[
        Annotated[str, msgspec.Meta(min_length=32)] | None,
        msgspec.Meta(
            description="Key of the HMAC that names callers in logs and the store (never the API key itself). "
            "Unset: a random one is kept in ATTACHE_DATA_DIR. Every replica of a fleet must share one.",
        ),
    ] = None
    database_url: Annotated[
        str | None,
        msgspec.Meta(
            description="The store for a fleet: `postgresql://user:password@host:5432/db`. Unset: SQLite in "
            "ATTACHE_DATA_DIR, created on first start. `off`: keep nothing (no results by id, idempotency, async "
            "work or response cache). Never logged."
        ),
    ] = None
    retention_days: Annotated[
        int,
        msgspec.Meta(
            ge=0, description="Days an assessment is kept; older ones are purged in the background. 0 keeps them all."
        ),
    ] = 30
    store_text: Annotated[
        bool,
        msgspec.Meta(
            description="Keep what callers sent (`context`, `question`, `source`, `as_of`) with each assessment, so "
            "it can be replayed; false keeps only its sha256."
        ),
    ] = True
    response_cache_ttl: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Seconds an identical request (same prompt sha256, schema, model, temperature and variables) "
            "is answered from the store with no model call; 0 turns the cache off.",
        ),
    ] = 3600
    async_lease_seconds: Annotated[
        float,
        msgspec.Meta(
            ge=1,
            le=3600,
            description="An async assessment's lease: its worker renews it while it runs; one not renewed for this "
            "long (the worker died) is marked `interrupted` by any worker's sweep.",
        ),
    ] = 30.0
    redis_url: Annotated[
        str | None,
        msgspec.Meta(
            description="Redis (or Valkey) for a fleet: `redis://host:6379/0`. Rate limits are then shared by every "
            "worker and replica; if Redis fails, each worker counts locally until it answers again. Never logged."
        ),
    ] = None
    trusted_proxies: Annotated[
        str | None,
        msgspec.Meta(
            description="Comma-separated addresses or CIDRs of proxies whose `X-Forwarded-For` is believed, for the "
            "client address in open-mode rate limits and logs. Unset: none; the TCP peer is the client."
        ),
    ] = None
    rate_limit_per_minute: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Requests per minute per client key (per address when open), on `/assess`, `/agents…` and "
            "`/assessments…`; shared by the fleet with ATTACHE_REDIS_URL, else per worker; 0 disables.",
        ),
    ] = 120
    max_inflight: Annotated[
        int,
        msgspec.Meta(
            ge=1, description="Assessments in flight per worker; above it `/assess` answers 503 `overloaded` at once."
        ),
    ] = 256
    max_body_bytes: Annotated[
        Annotated[int, msgspec.Meta(ge=1024)] | None,
        msgspec.Meta(
            description="Largest request body accepted, in bytes; above it 413 `payload_too_large`. Unset: the "
            "largest valid request at ATTACHE_MAX_CONTEXT_CHARS, fully JSON-escaped, plus 25 %.",
        ),
    ] = None
    metrics_port: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=65535)] | None,
        msgspec.Meta(
            description="Serve `/metrics` on this port of ATTACHE_HOST instead of the API port, so it need not be "
            "exposed where the API is. Unset: `/metrics` on the API port.",
        ),
    ] = None
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
    llm_response_models: Annotated[
        str | None,
        msgspec.Meta(
            description="Comma-separated model names a provider may report that become metric labels as they are, "
            "beside every model the registry names and ATTACHE_LLM_MODEL; any other is counted as `other`."
        ),
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

    @property
    def drain_seconds(self) -> float:
        """How long SIGTERM waits for in-flight and async assessments."""
        return self.shutdown_grace if self.shutdown_grace is not None else self.llm_timeout + 10

    @property
    def is_fleet(self) -> bool:
        """Several replicas share state: Redis, or a PostgreSQL store."""
        return bool(self.redis_url) or (self.database_url or "").startswith("postgres")

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies, each checked as an address or network (a typo never silently trusts)."""
        networks = [part.strip() for part in (self.trusted_proxies or "").split(",") if part.strip()]
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise SettingsError(f"ATTACHE_TRUSTED_PROXIES: {network!r} is not an address or CIDR") from None
        return networks

    @property
    def body_limit(self) -> int:
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        largest = (self.max_context_chars + OTHER_TEXT_CHARS) * ESCAPED_CHAR_BYTES + 1024
        return largest * 5 // 4

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
    """(variable, default, description) for every setting; docs/configuration.md is checked against it."""
    rows = []
    defaults = Settings()
    for field in msgspec.structs.fields(Settings):
        meta = next(m for m in getattr(field.type, "__metadata__", ()) if isinstance(m, msgspec.Meta))
        default = getattr(defaults, field.name)
        if field.name == "registry_dir":
            default = "the repository's `registry/`"
        elif field.name == "cache_dir":
            default = "`$XDG_CACHE_HOME/attache`, else `~/.cache/attache`"
        elif field.name == "data_dir":
            default = "`$XDG_DATA_HOME/attache`, else `~/.local/share/attache`"
        elif field.name == "shutdown_grace":
            default = "ATTACHE_LLM_TIMEOUT + 10"
        elif field.name == "max_body_bytes":
            default = f"derived ({defaults.body_limit} at the defaults)"
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
