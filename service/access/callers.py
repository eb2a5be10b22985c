"""Who a caller is, without keeping who they are: an HMAC of the key (or address) with a secret.

A bare hash of a short key can be reversed offline by trying keys; an HMAC cannot without
the server-side secret. The secret is `ATTACHE_CALLER_SECRET` when set (a fleet shares one,
so a caller is the same caller on every pod); else a random one kept in `ATTACHE_DATA_DIR`,
created on first start, so a caller stays the same caller across restarts of one machine.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from service.logs import get_logger
from service.settings import Settings

SECRET_FILE = "caller-secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 32
DIGEST_CHARS = 20  # 80 bits: collisions between real callers stay out of reach

log = get_logger("attache.callers")


class CallerNames:
    """`key-…` for a key, `addr-…` for a client address (open mode); stable for one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _name(self, kind: str, value: str) -> str:
        digest = hmac.new(self._secret, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:DIGEST_CHARS]}"

    def of_key(self, key: str) -> str:
        return self._name("key", key)

    def of_address(self, address: str) -> str:
        return self._name("addr", address)


def caller_secret(settings: Settings) -> bytes:
    """The configured secret, else the one kept in the data folder (created once, mode 0600)."""
    if settings.caller_secret:
        return settings.caller_secret.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return _read_or_create(path)
    except OSError as exc:
        log.warning(
            "caller secret cannot be kept; using one for this process only: caller names change at restart",
            path=str(path),
            error=exc.strerror,
        )
        return secrets.token_bytes(SECRET_BYTES)


def _read_or_create(path: Path) -> bytes:
    try:
        return _checked(path.read_bytes())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written aside, then linked into place: two workers starting at once agree on one secret,
    # since os.link refuses to replace a file another worker linked first.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secrets.token_bytes(SECRET_BYTES))
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _checked(path.read_bytes())


def _checked(secret: bytes) -> bytes:
    if len(secret) < SECRET_BYTES:
        raise OSError(errno.EINVAL, f"holds {len(secret)} bytes, fewer than {SECRET_BYTES}")
    return secret
