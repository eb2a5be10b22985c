# syntax=docker/dockerfile:1
# Attaché: a production image. Every dependency is installed from a lock with hashes
# (--require-hashes): requirements-build.lock builds the wheel, requirements-runtime.lock is
# what runs. The base image is pinned by digest; `make pin` refreshes the digest and the locks.

ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${BASE_IMAGE} AS build
# A build behind a TLS-inspecting proxy passes its CA bundle (see .ci/build-image).
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements-build.lock requirements-runtime.lock pyproject.toml README.md ./
COPY service/ service/
COPY schemas/ schemas/
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements-build.lock \
    && /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /src/dist . \
    && python -m venv /opt/attache \
    && /opt/attache/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements-runtime.lock \
    && /opt/attache/bin/pip install --no-cache-dir --no-deps /src/dist/attache-*.whl

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
