"""The one retry policy for model calls, designed on purpose.

Three layers, each bounded, none hidden behind another:

1. Transport. One provider HTTP call is retried on 408, 409, 429, 5xx (except a 5xx that
   says our request body is malformed: `service.provider.faults`) and connection errors,
   at most `ATTACHE_LLM_TRANSPORT_RETRIES` times, waiting what the provider asks
   (`retry-after-ms`, `Retry-After` in seconds or as an HTTP date) or else exponential
   backoff with full jitter (0.5 s, 1 s, 2 s, … capped at 8 s). The openai SDK's own retries
   are switched off (`max_retries=0`), so nothing retries twice.
2. Schema. instructor re-asks when the output fails validation, at most `ATTACHE_LLM_REASKS`
   times. `finish_reason=length` and refusals are final: asking again repeats them.
3. Deadline. One total deadline (`ATTACHE_LLM_TIMEOUT`) covers everything. A transport
   retry whose wait would cross it is not made: the caller gets the provider's error, with
   `Retry-After`, at once.

Worst case, one assessment makes (reasks + 1) x (transport_retries + 1) provider calls:
9 with the defaults, all inside the deadline.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time

import aiohttp
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from service.provider.faults import rejected_as_malformed

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
TRANSIENT_STATUS = frozenset({408, 409, 429})
MAX_RETRY_AFTER = 3600.0  # what we pass on to callers, at most; our own waits end at the deadline


def timed_out(exc: BaseException) -> bool:
    """The provider call timed out; not a refused, reset or closed connection.

    The openai SDK's aiohttp transport reports every aiohttp connection error (refused,
    closed without an answer) as a connect *timeout*, hence `APITimeoutError`
    (acknowledged in openai/openai-python#3594). The aiohttp error in the cause chain tells
    them apart.
    """
    if not isinstance(exc, openai.APITimeoutError):
        return False
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, aiohttp.ClientError):
        cause = cause.__cause__
    return cause is None or isinstance(cause, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    if timed_out(exc):
        return False  # the deadline is what bounds waiting; a timed-out call is not retried
    if isinstance(exc, openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        if rejected_as_malformed(exc):
            return False  # the same body fails the same way (service.provider.faults)
        return exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500
    return False


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the provider asked us to wait, if it said so sanely.

    The provider is not trusted: a value that is not a finite, non-negative number or HTTP
    date (`soon`, `inf`, `nan`, `1e400`, `-5`) counts as absent, and a huge one is capped
    at `MAX_RETRY_AFTER`. Waiting itself is bounded by the deadline (`stop_at_deadline`).
    """
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    if (ms := _seconds(headers.get("retry-after-ms"))) is not None:
        return min(ms / 1000, MAX_RETRY_AFTER)
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := _seconds(value)) is not None:
        return min(seconds, MAX_RETRY_AFTER)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(parsed.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))  # noqa: S311 - jitter


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    asked = retry_after(exc)
    return asked if asked is not None else backoff(state.attempt_number)


class stop_at_deadline(stop_base):
    """Stop when the next wait would end past the deadline (on the event loop's clock)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.loop = asyncio.get_running_loop()

    def __call__(self, state: RetryCallState) -> bool:
        return self.loop.time() + state.upcoming_sleep >= self.deadline


def transport_retrying(retries: int, deadline: float) -> AsyncRetrying:
    """Retries for one provider call; `deadline` is on the running loop's clock."""
    return AsyncRetrying(
        stop=stop_after_attempt(retries + 1) | stop_at_deadline(deadline),
        wait=_wait,
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
