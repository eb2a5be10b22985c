"""Metrics across worker processes: one `PROMETHEUS_MULTIPROC_DIR`, prepared by the launcher.

prometheus-client's multiprocess mode keeps each worker's values in files in that folder
and sums them at scrape time. The folder must be empty when the workers start (stale files
would be added in) and must be set before any worker imports prometheus_client — so the
launcher, not each worker, creates or wipes it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# The files prometheus-client's multiprocess mode writes: `<type>[_<mode>]_<pid>.db`.
METRIC_FILE = re.compile(r"(counter|histogram|summary|gauge_(live)?(all|min|max|sum|mostrecent))_\d+\.db")


def prepare_metrics_dir() -> Path:
    """Use $PROMETHEUS_MULTIPROC_DIR or a fresh temporary folder; export it for the workers.

    A configured folder may be shared with other things (`/tmp`, say): only the metric files
    prometheus-client writes are removed from it, never the folder or anything else in it.
    """
    configured = os.environ.get(ENV) or os.environ.get(ENV.lower())
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for entry in folder.iterdir():
            if METRIC_FILE.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="attache-metrics-"))
    os.environ[ENV] = str(folder)
    return folder


def start_metrics_server(host: str, port: int) -> None:
    """`/metrics` on its own port (`ATTACHE_METRICS_PORT`), served by the launching process.

    One server for the pod, whatever the worker count: it reads every worker's files in
    multiprocess mode, or this process's own metrics with a single worker. It runs in a
    daemon thread of the launcher, so it lives and dies with `attache serve`.
    """
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = REGISTRY
    if os.environ.get(ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
