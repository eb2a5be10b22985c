"""How cassettes are stored and matched.

Stored as YAML with every JSON body parsed (`parsed_body`), and a tool call's `arguments`
— the assessment itself — parsed too (`parsed_arguments`), so a reviewer reads the prompt
and the answer rather than escaped strings (the format is `service.eval.cassettes`, shared
with `attache eval`'s recorded exchanges). Loading turns them back into the exact JSON
text the provider's wire format carries.

Matched on method, URL and the `prompt` matcher: the model and the messages sent. A change
to a published prompt, to how the context is rendered, or to instructor's re-ask messages
makes the recorded exchange stop matching, and the test fails loudly.
"""

from __future__ import annotations

import json
from typing import Any

from service.eval.cassettes import SECRET_HEADERS, deserialize, serialize
from service.eval.cassettes import parse_json as _parse

__all__ = ["SECRET_HEADERS", "deserialize", "prompt_matcher", "scrub_request", "scrub_response", "serialize"]


def prompt_matcher(recorded: Any, sent: Any) -> None:
    """VCR matcher: the same model and the same messages, or an AssertionError saying what differs."""
    mine, theirs = _parse(recorded.body) or {}, _parse(sent.body) or {}
    assert mine.get("model") == theirs.get("model"), f"model {theirs.get('model')!r} != {mine.get('model')!r}"
    if mine.get("messages") != theirs.get("messages"):
        import difflib

        diff = difflib.unified_diff(
            json.dumps(mine.get("messages"), indent=1, ensure_ascii=False).splitlines(),
            json.dumps(theirs.get("messages"), indent=1, ensure_ascii=False).splitlines(),
            "recorded",
            "sent",
            lineterm="",
        )
        raise AssertionError("the prompt sent differs from the recorded prompt:\n" + "\n".join(list(diff)[:40]))


def scrub_request(request: Any) -> Any:
    for name in SECRET_HEADERS:
        request.headers.pop(name, None)
        request.headers.pop(name.title(), None)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SECRET_HEADERS:
            del headers[name]
    return response
