"""A cache of start-up checks whose outcome depends only on bytes that never change.

Published version files are immutable, yet checking one (Jinja parse, render with sample
inputs) costs about 2.5 ms; a registry of hundreds of versions would spend seconds at every
start redoing it. Entries are keyed by a hash of the input bytes plus the Python, Jinja and
template-module versions, so a stale entry is never read.

The cache holds data only, never code or template text: what a version renders is always
built from the version file's own bytes, checked against the lock at every start, so
whoever can write this folder cannot change what is served, only make start-up skip a
check that the locked bytes already passed when they were locked. Every entry carries a
checksum: an unreadable, truncated, corrupt or foreign entry is a miss, never a crash. A
folder that another user could write (group- or world-writable, or owned by someone other
than this user or root) is not used at all.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TypeVar

import msgspec

from service.logs import get_logger

FORMAT = 2
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
_CHECKSUM_BYTES = 32

T = TypeVar("T")
log = get_logger("attache.registry")


class LoadCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory if directory is not None and _safe(directory) else None

    @staticmethod
    def key(kind: str, content: bytes) -> str:
        return f"{kind}-{hashlib.sha256(_SALT + content).hexdigest()}"

    def get(self, kind: str, content: bytes, type_: type[T]) -> T | None:
        """The entry for `content`, decoded as `type_`; None for a miss of any kind."""
        if self.directory is None:
            return None
        try:
            data = (self.directory / self.key(kind, content)).read_bytes()
        except OSError:
            return None
        checksum, payload = data[:_CHECKSUM_BYTES], data[_CHECKSUM_BYTES:]
        if hashlib.sha256(payload).digest() != checksum:
            return None
        try:
            return msgspec.msgpack.decode(payload, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def put(self, kind: str, content: bytes, entry: object) -> None:
        if self.directory is None:
            return
        payload = msgspec.msgpack.encode(entry)
        try:
            # Readable by all (an image warms it as root for the user it runs as), writable by its owner.
            self.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
            # Write then rename, so a concurrent reader (another worker) never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(hashlib.sha256(payload).digest() + payload)
            Path(tmp).replace(self.directory / self.key(kind, content))
        except OSError as exc:
            log.warning("load cache not writable; continuing without it", path=str(self.directory), error=str(exc))
            self.directory = None


def _safe(directory: Path) -> bool:
    """Only this user (or root) can write the folder; a folder not made yet is made so."""
    try:
        info = directory.stat()
    except FileNotFoundError:
        return True
    except OSError as exc:
        log.warning("load cache not usable; continuing without it", path=str(directory), error=str(exc))
        return False
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "not a folder"
    elif info.st_uid not in (os.getuid(), 0):
        problem = f"owned by uid {info.st_uid}, not this user"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = "writable by other users"
    if problem:
        log.warning("load cache refused; continuing without it", path=str(directory), reason=problem)
        return False
    return True
