"""What a provider's answer means when it is not an assessment: each failure as its problem.

Refusals, cut-offs and empty answers are final (`check`); an exhausted instructor retry is
explained by its cause (`explain`); an SDK error maps to a problem code (`map_provider_error`).
The provider's own message is never echoed: it can quote keys. What is echoed has a fixed
shape: an error code that is an identifier, a refusal cut to a paragraph of plain text.
"""

from __future__ import annotations

import json
import math
import re

import openai
from instructor.core.exceptions import InstructorRetryException
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from service.errors import (
    AttacheError,
    ContextLengthExceeded,
    InvalidModelOutput,
    ModelRefused,
    OutputTruncated,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.provider.calls import CallLog
from service.provider.faults import context_length_exceeded, rejected_as_malformed
from service.provider.retry import backoff, retry_after, timed_out

NOT_A_COMPLETION = "the model provider sent a response that is not a chat completion"
PROVIDER_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
REFUSAL_CHARS = 300


def check(completion: ChatCompletion, max_tokens: int | None) -> None:
    """Final outcomes instructor would otherwise re-ask or misreport."""
    if not completion.choices:
        raise UpstreamUnavailable("the provider answered with no choices")
    choice = completion.choices[0]
    if choice.message.refusal or choice.finish_reason == "content_filter":
        reason = choice.message.refusal or "the provider's content filter stopped the answer"
        raise ModelRefused(f"the model declined to assess this item: {_bounded(reason, REFUSAL_CHARS)}")
    # Some servers report a normal finish for an answer cut at the limit (llama-cpp-python
    # inside a tool call): the token count says it, whatever finish_reason says.
    output_tokens = completion.usage.completion_tokens if completion.usage else 0
    if choice.finish_reason == "length" or (max_tokens and output_tokens >= max_tokens):
        raise OutputTruncated(truncated_detail(max_tokens))


def truncated_detail(max_tokens: int | None) -> str:
    limit = f" ({max_tokens} tokens)" if max_tokens else ""
    return f"the model's answer was cut off at the output token limit{limit}; the assessment is incomplete"


def outcome_of(exc: openai.APIError) -> str:
    """The problem code a failed call counts under; never raises, so every call is recorded."""
    try:
        return map_provider_error(exc, attempts=0).code
    except Exception:  # a provider answer we failed to read is still a failed call, counted
        return UpstreamUnavailable.code


def explain(exc: InstructorRetryException, log: CallLog) -> AttacheError:
    cause = exc.__cause__
    if isinstance(cause, AttacheError):
        cause.extra.setdefault("attempts", log.attempts)
        return cause
    if isinstance(cause, openai.APIError):
        return map_provider_error(cause, attempts=log.attempts)
    if isinstance(cause, ValidationError):
        errors = [
            {"loc": ".".join(str(part) for part in error["loc"]), "msg": error["msg"]}
            for error in cause.errors(include_input=False, include_url=False)
        ][:20]
        return InvalidModelOutput(
            f"the model's output still failed the assessment schema after {exc.n_attempts} attempts",
            attempts=log.attempts,
            errors=errors,
        )
    if isinstance(cause, json.JSONDecodeError) or cause is not None:
        return InvalidModelOutput(
            f"the model's output was not a usable assessment after {exc.n_attempts} attempts",
            attempts=log.attempts,
        )
    return UpstreamUnavailable("the provider call failed", attempts=log.attempts)


def map_provider_error(exc: openai.APIError, *, attempts: int) -> AttacheError:
    """Provider failures → problem codes. The provider's message is never echoed: it can quote keys."""
    waited = retry_after(exc)
    if timed_out(exc):
        return UpstreamTimeout("the provider did not answer in time", attempts=attempts)
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamUnavailable("could not connect to the model provider", attempts=attempts)
    if isinstance(exc, openai.RateLimitError):
        seconds = math.ceil(waited if waited is not None else backoff(attempts + 1) + 1)
        return UpstreamRateLimited(
            "the model provider is rate-limiting requests",
            headers={"Retry-After": str(seconds)},
            attempts=attempts,
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if context_length_exceeded(exc):
            return ContextLengthExceeded(
                "the prompt and the answer's token limit exceed the model's context window; shorten the context "
                "or use a model with a larger window",
                attempts=attempts,
            )
        if rejected_as_malformed(exc):
            return UpstreamRejected(
                f"the model provider rejected the request as malformed (HTTP {status}); check ATTACHE_LLM_MODE",
                attempts=attempts,
            )
        if status >= 500:
            if waited is not None:
                return UpstreamUnavailable(
                    f"the model provider is unavailable (HTTP {status})",
                    status=503,
                    headers={"Retry-After": str(math.ceil(waited))},
                    attempts=attempts,
                )
            return UpstreamUnavailable(f"the model provider failed (HTTP {status})", attempts=attempts)
        if status in (401, 403):
            return UpstreamRejected(
                f"the model provider rejected our credentials (HTTP {status}); check OPENAI_API_KEY",
                attempts=attempts,
            )
        code = exc.code if isinstance(exc.code, str) and PROVIDER_CODE.fullmatch(exc.code) else None
        return UpstreamRejected(
            f"the model provider rejected the request (HTTP {status}" + (f", {code})" if code else ")"),
            attempts=attempts,
        )
    return UpstreamUnavailable(NOT_A_COMPLETION, attempts=attempts)


def _bounded(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]
