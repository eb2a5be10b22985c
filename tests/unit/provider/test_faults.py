"""How provider errors are read where the HTTP status does not say it (service.provider.faults)."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from service.provider.faults import context_length_exceeded, rejected_as_malformed
from service.provider.retry import is_transient

URL = "http://127.0.0.1:8011/v1/chat/completions"
# What llama-cpp-python's server answered, with HTTP 500, to `response_format: {"type": "json_schema", …}`.
MALFORMED = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input "
    "should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}\n"
    '\n  File "/srv/llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
)


def status_error(status: int, body: Any) -> openai.APIStatusError:
    response = httpx2.Response(status, request=httpx2.Request("POST", URL))
    error = body.get("error", body) if isinstance(body, dict) else body
    return openai.APIStatusError(f"Error code: {status}", response=response, body=error)


def error(status: int, message: str, kind: str | None = None, code: str | None = None) -> openai.APIStatusError:
    return status_error(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


@pytest.mark.parametrize(
    "exc",
    [
        error(
            400,
            "This model's maximum context length is 8192 tokens.",
            "invalid_request_error",
            "context_length_exceeded",
        ),
        error(
            400,
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",
            "BadRequestError",
        ),
        error(400, "the request exceeds the available context size, try increasing it", "exceed_context_size_error"),
    ],
    ids=["openai-and-llama-cpp-python", "vllm", "llama-server"],
)
def test_every_wording_of_a_full_context_window_is_recognised(exc: openai.APIStatusError) -> None:
    assert context_length_exceeded(exc)
    assert not is_transient(exc)


def test_other_rejections_are_not_a_full_context_window() -> None:
    assert not context_length_exceeded(error(400, "Invalid value for 'temperature'", "invalid_request_error"))
    assert not context_length_exceeded(error(500, "maximum context length reached while decoding"))


def test_a_500_with_a_request_validation_message_is_a_rejection_not_retried() -> None:
    exc = error(500, MALFORMED, "internal_server_error")
    assert rejected_as_malformed(exc)
    assert not is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        error(500, "CUDA error: out of memory", "internal_server_error"),
        error(503, "the model is loading", "unavailable"),
        status_error(502, "<html>bad gateway</html>"),
    ],
    ids=["oom", "loading", "html"],
)
def test_other_5xx_are_still_retried(exc: openai.APIStatusError) -> None:
    assert not rejected_as_malformed(exc)
    assert is_transient(exc)


def test_a_4xx_validation_error_is_simply_a_4xx() -> None:
    exc = error(422, MALFORMED, "invalid_request_error")
    assert not rejected_as_malformed(exc), "only a 5xx needs reading"
    assert not is_transient(exc)
