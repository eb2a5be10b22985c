"""Request bodies decoded straight into their declared type, in one pass.

Litestar decodes a JSON body into generic Python objects first and validates them after:
a 4 KB body of nested arrays reaches the decoder's recursion limit (a 500), and a 1 MiB
body of empty objects costs ~24 MiB of objects before it is refused. A route that names its
body type in `opt={"body_type": T}` is decoded by msgspec directly into `T`, so the first
value of a wrong type stops decoding, nothing generic is built, and every failure —
malformed JSON, nesting, wrong types, unknown fields — is a 400 `invalid_request`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.utils.empty import value_or_default

from service.errors import InvalidRequest

BODY_TYPE = "body_type"
_PATH = re.compile(r" - at `\$\.?(?P<key>[^`]*)`$")


class TypedBodyRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        body_type = self.route_handler.opt.get(BODY_TYPE)
        if body_type is None:
            return await super().json()
        decoded = value_or_default(self._connection_state.json, None)
        if decoded is None:
            decoded = self._connection_state.json = decode_body(await self.body(), body_type)
        return decoded


def decode_body(body: bytes, body_type: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=body_type)
    except msgspec.ValidationError as exc:
        message, key = _split(str(exc))
        raise InvalidRequest(
            f"the request body does not validate: {message}" + (f" (at `{key}`)" if key else ""),
            errors=[{"message": message, "key": key, "source": "body"}],
        ) from None
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("the request body is not valid JSON (or nests too deeply)") from None


def _split(message: str) -> tuple[str, str]:
    match = _PATH.search(message)
    if match is None:
        return message, ""
    return message[: match.start()], match["key"]
