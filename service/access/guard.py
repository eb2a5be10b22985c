"""Client authentication: `Authorization: Bearer <key>` on the API routes.

Keys come from `ATTACHE_API_KEYS` or `ATTACHE_API_KEYS_FILE` (`service.access.keys`). Each presented
key is compared with every configured key in constant time, so neither a key's prefix nor its
position in the list shows in the timing. A caller is known in logs, rate limits and the
store by an HMAC of its key (`service.access.callers`), never by the key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.access.callers import CallerNames
from service.errors import Unauthorized

CHALLENGE = 'Bearer realm="attache"'


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: `name` scopes what they see and their idempotency keys; admins see all."""

    name: str
    admin: bool


class AccessServices(Protocol):
    """What the guards read of the app's `service.lifecycle.Services` (the access room imports no higher)."""

    client_keys: frozenset[str]
    admin_keys: frozenset[str]
    callers: CallerNames


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller the guard verified (or, in open mode, named by address)."""
    caller: Caller = connection.scope["state"]["attache_caller"]
    return caller


async def require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard for the API routes; open when no keys are configured.

    Async on purpose: Litestar runs a sync guard in its thread pool, a thread hop per request.
    """
    access: AccessServices = connection.app.state.services
    keys, names = access.client_keys, access.callers
    if not keys:
        # Open mode: everyone sees everything (the start-up warning says so).
        caller = Caller(names.of_address(client_address(connection)), admin=True)
        connection.scope["state"]["attache_caller"] = caller
        return
    key = presented_key(connection)
    if key is None:
        raise Unauthorized(
            "send `Authorization: Bearer <key>` with a key from ATTACHE_API_KEYS",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    presented = key.encode()
    matched = admin = False
    for candidate in keys:  # no early exit: every key is compared
        equal = hmac.compare_digest(presented, candidate.encode())
        matched |= equal
        admin |= equal and candidate in access.admin_keys
    if not matched:
        raise Unauthorized(
            "the API key is not valid", headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'}
        )
    caller = Caller(names.of_key(key), admin=admin)
    connection.scope["state"]["attache_caller"] = caller
    connection.scope["state"]["caller"] = caller.name  # read by the request log line
