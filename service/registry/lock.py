"""`registry.lock`: the sha256 of every published version file, in `sha256sum` format.

    <sha256>  <persona>/<version>.yaml

so `cd registry && sha256sum -c registry.lock` checks it without Attaché installed.
Entries are only ever added: a published version's bytes never change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "registry.lock"
_LINE = re.compile(r"^(?P<digest>[0-9a-f]{64}) [ *](?P<path>\S+)$")


class LockError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Lock:
    entries: dict[str, str]
    """relative path → sha256"""

    @property
    def digest(self) -> str:
        """One hash over the whole lock: a fingerprint of everything published."""
        return hashlib.sha256(self.render().encode()).hexdigest()

    def render(self) -> str:
        return "".join(f"{digest}  {path}\n" for path, digest in sorted(self.entries.items()))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_lock(root: Path) -> Lock:
    path = root / LOCK_NAME
    if not path.exists():
        return Lock({})
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LockError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    except OSError as exc:
        raise LockError(f"{path}: cannot be read ({exc.strerror})") from None
    entries: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise LockError(f"{path}:{lineno}: not a `<sha256>  <persona>/<version>.yaml` line")
        if match["path"] in entries:
            raise LockError(f"{path}:{lineno}: {match['path']} is listed twice")
        entries[match["path"]] = match["digest"]
    return Lock(entries)


def write_lock(root: Path, lock: Lock) -> None:
    (root / LOCK_NAME).write_text(lock.render(), encoding="utf-8")
