"""What a provider's error says where its HTTP status does not say it.

- **The context window is full.** OpenAI and llama-cpp-python's server answer 400 with code
  `context_length_exceeded`; vLLM says "maximum context length" in a 400; llama.cpp's own
  server answers 400 `exceed_context_size_error`. Each is final, and gets its own problem
  code: sending the same request again cannot fit it.
- **The request is malformed.** llama-cpp-python's server answers a body its request schema
  rejects (e.g. `response_format: {"type": "json_schema"}`) with HTTP 500, the validation
  error as the message. The same body fails the same way every time, so a 5xx whose message
  is a request-validation error (FastAPI's and pydantic's wording) is read as a rejection:
  not retried, `upstream_rejected`.

Only the provider's code, type and message are read, never echoed: it can quote keys.
"""

from __future__ import annotations

import re

import openai

CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
CONTEXT_MESSAGE = re.compile(r"maximum context length|exceeds? (the )?(available )?context (size|window)", re.I)
# FastAPI's "1 validation error:" / pydantic's "2 validation errors for …", or an error's location in the body.
REQUEST_INVALID = re.compile(r"\b\d+ validation errors?\b|'loc': \('body'|\"loc\": \[\"body\"")


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else body
    return message if isinstance(message, str) else ""


def context_length_exceeded(exc: BaseException) -> bool:
    if not isinstance(exc, openai.APIStatusError) or exc.status_code >= 500:
        return False
    return exc.code in CONTEXT_CODES or exc.type in CONTEXT_CODES or bool(CONTEXT_MESSAGE.search(_message(exc)))


def rejected_as_malformed(exc: BaseException) -> bool:
    """A 5xx that is really the provider refusing our request body."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code < 500:
        return False
    return bool(REQUEST_INVALID.search(_message(exc)))
