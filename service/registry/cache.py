"""A cache for start-up work whose result depends only on bytes that never change.

Published version files are immutable, yet loading one costs about a millisecond of YAML
construction and Jinja compilation; a registry of hundreds of versions would spend
seconds at every start redoing it. Entries are keyed by a hash of the input bytes plus the
Python, Jinja and format versions, so a stale entry is never read; validation still runs
on every start, on the cached results. Like `__pycache__`, the folder holds code objects:
point it only at a folder the service alone can write.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path

from service.logs import get_logger

FORMAT = 1
# The code that produces an entry is part of its key: Python, Jinja, and the module that
# defines the template environment and its filters.
_ENVIRONMENT_SOURCE = (Path(__file__).parent / "templates.py").read_bytes()
_SALT = b":".join(
    [
        str(FORMAT).encode(),
        sys.implementation.cache_tag.encode(),
        importlib.metadata.version("jinja2").encode(),
        hashlib.sha256(_ENVIRONMENT_SOURCE).hexdigest().encode(),
        b"",
    ]
)

log = get_logger("attache.registry")


class LoadCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    @staticmethod
    def key(kind: str, content: bytes) -> str:
        return f"{kind}-{hashlib.sha256(_SALT + content).hexdigest()}"

    def get(self, kind: str, content: bytes) -> bytes | None:
        if self.directory is None:
            return None
        try:
            return (self.directory / self.key(kind, content)).read_bytes()
        except OSError:
            return None

    def put(self, kind: str, content: bytes, data: bytes) -> None:
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a concurrent reader (another worker) never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            Path(tmp).replace(self.directory / self.key(kind, content))
        except OSError as exc:
            log.warning("load cache not writable; continuing without it", path=str(self.directory), error=str(exc))
            self.directory = None
