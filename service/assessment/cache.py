"""The response cache: an identical request within `ATTACHE_RESPONSE_CACHE_TTL` costs no model call.

The store is the cache: the newest successful assessment with the same cache key
(`Prepared.cache_key`: the served prompt's sha256 and rendered text, the output schema,
model, temperature, token limit and mode) is answered again, as a new envelope with its
own id, `cached_from` naming the original, usage of zero (nothing was spent) and an `Age`
header. Answers are remembered in-process too (a bounded map, expiring with the TTL), so a
hot headline costs no query; the store stays the truth, shared by every worker and replica.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict
from dataclasses import dataclass

import msgspec

from service.assessment.answer import JSON, Answer, prompt_headers
from service.assessment.envelope import PromptRef
from service.assessment.prepare import Prepared
from service.store import Finished, Store, Stored

MEMORY_ENTRIES = 2048


@dataclass(frozen=True, slots=True)
class Original:
    id: str
    created_at: dt.datetime
    body: bytes
    model: str | None


class ResponseCache:
    def __init__(self, store: Store, ttl: int) -> None:
        self.store = store
        self.ttl = dt.timedelta(seconds=ttl)
        self._recent: OrderedDict[str, Original] = OrderedDict()

    async def find(self, key: str, now: dt.datetime) -> Original | None:
        """The original answer for `key`, if one is fresh; StoreOperationFailed propagates."""
        recent = self._recent.get(key)
        if recent is not None:
            if now - recent.created_at < self.ttl:
                self._recent.move_to_end(key)
                return recent
            del self._recent[key]
        row = await self.store.cached(key, now - self.ttl)
        if row is None:
            return None
        original = _original(row)
        self.remember(key, original)
        return original

    def remember(self, key: str, original: Original) -> None:
        self._recent[key] = original
        self._recent.move_to_end(key)
        while len(self._recent) > MEMORY_ENTRIES:
            self._recent.popitem(last=False)


def hit_answer(original: Original, prepared: Prepared, assessment_id: str, now: dt.datetime) -> Answer:
    envelope = msgspec.json.decode(original.body)
    # This request's own resolution: the same version and sha256, perhaps asked for by another label or arm.
    prompt = PromptRef(prepared.prompt.version, prepared.label, prepared.prompt.sha256, prepared.rollout)
    envelope.update(
        id=assessment_id,
        created_at=now.isoformat().replace("+00:00", "Z"),
        prompt=msgspec.to_builtins(prompt),
        usage={"input_tokens": 0, "output_tokens": 0, "attempts": 0},
        latency_ms=round((time.perf_counter() - prepared.started) * 1000, 1),
        cached_from=original.id,
    )
    body = msgspec.json.encode(envelope)
    finished = Finished(
        finished_at=now, outcome="ok", http_status=200, body=body, model=original.model, cached_from=original.id
    )
    headers = prompt_headers(prepared.persona, prompt)
    headers["Age"] = str(max(int((now - original.created_at).total_seconds()), 0))
    return Answer(200, body, JSON, finished, headers)


def _original(row: Stored) -> Original:
    assert row.body is not None  # noqa: S101 - the query selects finished, successful rows only
    return Original(row.id, row.created_at, row.body, row.model)
