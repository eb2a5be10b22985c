"""How cassettes are stored and matched.

Stored as YAML with every JSON body parsed (`parsed_body`), and a tool call's `arguments`
— the assessment itself — parsed too (`parsed_arguments`), so a reviewer reads the prompt
and the answer rather than escaped strings. Loading turns them back into the exact JSON
text the provider's wire format carries.

Matched on method, URL and the `prompt` matcher: the model and the messages sent. A change
to a published prompt, to how the context is rendered, or to instructor's re-ask messages
makes the recorded exchange stop matching, and the test fails loudly.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie")


def _parse(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parse_arguments(completion: Any) -> None:
    for choice in completion.get("choices", []) if isinstance(completion, dict) else []:
        for call in (choice.get("message") or {}).get("tool_calls") or []:
            function = call.get("function", {})
            parsed = _parse(function.get("arguments"))
            # Only when loading gives back the very same text: a re-ask echoes it to the model.
            if parsed is not None and _dump(parsed) == function.get("arguments"):
                function["parsed_arguments"] = parsed
                del function["arguments"]


def _dump_arguments(completion: Any) -> None:
    for choice in completion.get("choices", []) if isinstance(completion, dict) else []:
        for call in (choice.get("message") or {}).get("tool_calls") or []:
            function = call.get("function", {})
            if "parsed_arguments" in function:
                function["arguments"] = _dump(function.pop("parsed_arguments"))


class _Dumper(yaml.SafeDumper):
    """Multi-line text (prompts, assessments) as `|` blocks, so a diff reads like prose."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def serialize(cassette: dict[str, Any]) -> str:
    for interaction in cassette["interactions"]:
        request, response = interaction["request"], interaction["response"]
        if (body := _parse(request.get("body"))) is not None:
            request["parsed_body"] = body
            del request["body"]
        if (body := _parse(response["body"].get("string"))) is not None:
            _parse_arguments(body)
            response["parsed_body"] = body
            del response["body"]
    text: str = yaml.dump(cassette, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)
    return text


def deserialize(text: str) -> dict[str, Any]:
    cassette: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)
    for interaction in cassette["interactions"]:
        request, response = interaction["request"], interaction["response"]
        if "parsed_body" in request:
            request["body"] = _dump(request.pop("parsed_body"))
        if "parsed_body" in response:
            body = response.pop("parsed_body")
            _dump_arguments(body)
            response["body"] = {"string": _dump(body)}
    return cassette


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
