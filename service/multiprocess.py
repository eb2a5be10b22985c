"""Metrics across worker processes: one `PROMETHEUS_MULTIPROC_DIR`, prepared by the launcher.

prometheus-client's multiprocess mode keeps each worker's values in files in that folder
and sums them at scrape time. The folder must be empty when the workers start (stale files
would be added in) and must be set before any worker imports prometheus_client — so the
launcher, not each worker, creates or wipes it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir() -> Path:
    """Use $PROMETHEUS_MULTIPROC_DIR (emptied) or a fresh temporary folder; export it for the workers."""
    configured = os.environ.get(ENV) or os.environ.get(ENV.lower())
    if configured:
        folder = Path(configured)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="attache-metrics-"))
    os.environ[ENV] = str(folder)
    return folder
