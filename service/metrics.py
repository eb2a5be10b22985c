"""Prometheus metrics: the model calls (OpenTelemetry GenAI names) and Attaché's own.

Label values are bounded: agents and versions come from the registry after resolution (an
unknown agent never becomes a label), models from the registry or the provider, outcomes
from the fixed set of problem codes. HTTP metrics come from Litestar's Prometheus plugin
with path templates. With several workers, `attache serve --workers N` points every
process at one `PROMETHEUS_MULTIPROC_DIR` and `/metrics` sums them.

Metric objects live once per process (`metrics()`), as prometheus-client requires.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge, Histogram

from service import __version__

# OpenTelemetry's advice for gen_ai.client.operation.duration, extended past 120 s.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84)
# OpenTelemetry's advice for gen_ai.client.token.usage.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
ASSESSMENT_BUCKETS = (0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300)

GEN_AI_LABELS = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model")


@dataclass(frozen=True)
class Metrics:
    operation_duration: Histogram
    token_usage: Histogram
    assessments: Counter
    assessment_duration: Histogram
    reasks: Counter
    tokens: Counter
    in_flight: Gauge
    shed: Counter
    unrouted: Counter
    store_errors: Counter
    store_available: Gauge
    store_duration: Histogram
    response_cache: Counter
    interrupted: Counter
    purged: Counter
    redis_errors: Counter
    rate_limit_shared: Gauge
    build_info: Gauge
    registry_personas: Gauge
    registry_versions: Gauge
    registry_lock: Gauge


@cache
def metrics() -> Metrics:
    return Metrics(
        operation_duration=Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration: one provider call, failed ones and re-asks included.",
            [*GEN_AI_LABELS, "error_type"],
            buckets=DURATION_BUCKETS,
        ),
        token_usage=Histogram(
            "gen_ai_client_token_usage",
            "Tokens used per provider call, by gen_ai_token_type (input, output).",
            [*GEN_AI_LABELS, "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS,
        ),
        assessments=Counter(
            "attache_assessments",
            "Assessments finished, by agent, prompt version and outcome (ok or the problem code).",
            ["agent", "version", "outcome"],
        ),
        assessment_duration=Histogram(
            "attache_assessment_duration_seconds",
            "Wall time of one assessment, all provider calls and retries included.",
            ["agent", "version"],
            buckets=ASSESSMENT_BUCKETS,
        ),
        reasks=Counter(
            "attache_schema_reasks",
            "Re-asks sent because the model's output failed the schema.",
            ["agent", "version"],
        ),
        tokens=Counter(
            "attache_tokens",
            "Tokens billed by the provider, by agent, prompt version, response model and type (input, output).",
            ["agent", "version", "model", "token_type"],
        ),
        in_flight=Gauge(
            "attache_assessments_in_flight", "Assessments waiting on the provider now.", multiprocess_mode="livesum"
        ),
        shed=Counter(
            "attache_assessments_shed",
            "Assessments refused with 503 overloaded because ATTACHE_MAX_INFLIGHT were in flight.",
        ),
        unrouted=Counter(
            "attache_http_unrouted_requests",
            "Requests that matched no route (404) or no method of a route (405), by status; the HTTP "
            "metrics count routed requests only.",
            ["status_code"],
        ),
        store_errors=Counter(
            "attache_store_errors",
            "Store operations that failed or timed out, by operation; `record` and `finish` failures are "
            "assessments answered but not kept.",
            ["operation"],
        ),
        store_available=Gauge(
            "attache_store_available",
            "1 while the last store operation succeeded, 0 after one failed (per worker; the minimum over workers).",
            multiprocess_mode="livemin",
        ),
        store_duration=Histogram(
            "attache_store_operation_duration_seconds",
            "Wall time of one successful store operation, by operation.",
            ["operation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
        ),
        response_cache=Counter(
            "attache_response_cache",
            "/assess requests by what the response cache did: hit (answered from the store), miss, or bypass "
            "(Cache-Control, the cache off, or the store unavailable).",
            ["result"],
        ),
        interrupted=Counter(
            "attache_assessments_interrupted",
            "Pending assessments marked `interrupted`: their worker died (lease expired) or shut down before they "
            "finished.",
            ["reason"],
        ),
        purged=Counter("attache_store_purged", "Assessments deleted by retention (ATTACHE_RETENTION_DAYS)."),
        redis_errors=Counter(
            "attache_redis_errors",
            "Redis calls that failed or took longer than 50 ms; the request was counted locally instead.",
        ),
        rate_limit_shared=Gauge(
            "attache_rate_limit_shared",
            "1 while this worker's rate limits are counted on Redis, 0 while it counts locally (Redis down or "
            "not configured); the minimum over workers.",
            multiprocess_mode="livemin",
        ),
        build_info=Gauge(
            "attache_build_info", "Always 1; labels carry the build.", ["version", "python"], multiprocess_mode="max"
        ),
        registry_personas=Gauge(
            "attache_registry_personas", "Personas in the loaded registry.", multiprocess_mode="max"
        ),
        registry_versions=Gauge(
            "attache_registry_versions", "Published prompt versions in the loaded registry.", multiprocess_mode="max"
        ),
        registry_lock=Gauge(
            "attache_registry_lock_info",
            "Always 1; `lock_digest` is the sha256 of registry.lock, the fingerprint of everything published.",
            ["lock_digest"],
            multiprocess_mode="max",
        ),
    )


def record_start(personas: int, versions: int, lock_digest: str) -> None:
    m = metrics()
    m.build_info.labels(__version__, platform.python_version()).set(1)
    m.registry_personas.set(personas)
    m.registry_versions.set(versions)
    m.registry_lock.labels(lock_digest).set(1)


def provider_name(base_url: str | None) -> str:
    """`gen_ai.provider.name` from the endpoint (OpenTelemetry's well-known values where they apply)."""
    host = urlsplit(base_url or "https://api.openai.com/v1").hostname or ""
    if host == "api.openai.com":
        return "openai"
    if host.endswith((".openai.azure.com", ".services.ai.azure.com")):
        return "azure.ai.openai"
    return "openai_compatible"
