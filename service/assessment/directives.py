"""What a caller asks of `/assess` beyond the body: `Idempotency-Key`, `Prefer`, `Cache-Control`.

- `Idempotency-Key` (IETF httpapi draft): the same key and body from the same caller within
  24 h is answered once; a key is 1–255 visible characters (no control characters).
- `Prefer: respond-async` (RFC 7240): 202 at once, the assessment runs in the background.
- `Cache-Control: no-cache` forces a fresh model call; `no-store` keeps neither this
  answer in the response cache nor the caller's text in the store (RFC 9111 request
  directives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from litestar.datastructures import Headers

from service.errors import InvalidRequest

MAX_KEY_CHARS = 255
_VISIBLE = re.compile(r"[\x20-\x7e\x80-\U0010ffff]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Directives:
    idempotency_key: str | None = None
    respond_async: bool = False
    no_cache: bool = False
    no_store: bool = False

    @classmethod
    def from_headers(cls, headers: Headers) -> Directives:
        return cls(
            idempotency_key=_idempotency_key(headers.get("idempotency-key")),
            respond_async="respond-async" in _tokens(headers.getall("prefer", [])),
            no_cache="no-cache" in (cache := _tokens(headers.getall("cache-control", []))),
            no_store="no-store" in cache,
        )


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    # A structured-field string may come quoted (the draft's form); a bare token works too.
    key = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not key:
        raise InvalidRequest("`Idempotency-Key` is empty; send 1–255 visible characters")
    if len(key) > MAX_KEY_CHARS:
        raise InvalidRequest(f"`Idempotency-Key` is {len(key)} characters; the most is {MAX_KEY_CHARS}")
    if _CONTROL.search(key) or not _VISIBLE.fullmatch(key):
        raise InvalidRequest("`Idempotency-Key` holds a control character; send visible characters only")
    return key


def _tokens(values: list[str]) -> set[str]:
    """Directive names of comma-separated header values, lower-cased, parameters dropped."""
    return {part.split("=", 1)[0].split(";", 1)[0].strip().lower() for value in values for part in value.split(",")}
