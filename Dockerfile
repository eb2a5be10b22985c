# syntax=docker/dockerfile:1
# Attaché: a production image. Runtime dependencies come from requirements.lock only
# (used as constraints, so the dev tools in the lock are not installed).

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# A build behind a TLS-inspecting proxy passes its CA bundle (see .ci/build-image).
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY service/ service/
COPY schemas/ schemas/
RUN python -m venv /opt/attache \
    && /opt/attache/bin/pip install --no-cache-dir --constraint requirements.lock hatchling editables \
    && /opt/attache/bin/pip install --no-cache-dir --no-build-isolation --constraint requirements.lock . \
    && /opt/attache/bin/pip uninstall --yes hatchling editables

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="attache" \
      org.opencontainers.image.description="Analyst personas answer news items as typed JSON, from a versioned prompt registry." \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 attache \
    && useradd --uid 10001 --gid attache --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin attache
COPY --from=build /opt/attache /opt/attache
COPY registry/ /app/registry/
ENV PATH=/opt/attache/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ATTACHE_REGISTRY_DIR=/app/registry \
    ATTACHE_CACHE_DIR=/app/cache \
    ATTACHE_HOST=0.0.0.0 \
    ATTACHE_PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
WORKDIR /app
# Validate the baked-in registry and warm its load cache at build time: every pod starts warm.
RUN attache registry check
USER 10001:10001
EXPOSE 8000
# uvicorn drains in-flight requests on SIGTERM (ATTACHE_SHUTDOWN_GRACE), then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["attache"]
CMD ["serve"]
