"""How recorded provider exchanges are stored: VCR's cassette layout, readable in review.

YAML, with every JSON body parsed (`parsed_body`) and a tool call's `arguments` — the
assessment itself — parsed too (`parsed_arguments`), so a reviewer reads the prompt and the
answer rather than escaped strings. Loading gives back the exact JSON text the provider's
wire format carries. The same format serves pytest-recording's cassettes
(`tools/cassette_format.py`) and `attache eval`'s (`cassettes/eval/`).

An exchange is identified by what was asked: the model and the messages (`exchange_key`);
a change to a prompt, to how the context is rendered, or to instructor's re-ask text is
another exchange.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie")


def parse_json(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def exchange_key(request_body: Any) -> str:
    """The identity of a request: its model and messages, canonically."""
    body = request_body if isinstance(request_body, dict) else {}
    return hashlib.sha256(
        json.dumps([body.get("model"), body.get("messages")], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def _parse_arguments(completion: Any) -> None:
    for choice in completion.get("choices", []) if isinstance(completion, dict) else []:
        for call in (choice.get("message") or {}).get("tool_calls") or []:
            function = call.get("function", {})
            parsed = parse_json(function.get("arguments"))
            # Only when loading gives back the very same text: a re-ask echoes it to the model.
            if parsed is not None and dump_json(parsed) == function.get("arguments"):
                function["parsed_arguments"] = parsed
                del function["arguments"]


def _dump_arguments(completion: Any) -> None:
    for choice in completion.get("choices", []) if isinstance(completion, dict) else []:
        for call in (choice.get("message") or {}).get("tool_calls") or []:
            function = call.get("function", {})
            if "parsed_arguments" in function:
                function["arguments"] = dump_json(function.pop("parsed_arguments"))


class _Dumper(yaml.SafeDumper):
    """Multi-line text (prompts, assessments) as `|` blocks, so a diff reads like prose."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def serialize(cassette: dict[str, Any]) -> str:
    for interaction in cassette["interactions"]:
        request, response = interaction["request"], interaction["response"]
        if (body := parse_json(request.get("body"))) is not None:
            request["parsed_body"] = body
            del request["body"]
        if (body := parse_json(response["body"].get("string"))) is not None:
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
            request["body"] = dump_json(request.pop("parsed_body"))
        if "parsed_body" in response:
            body = response.pop("parsed_body")
            _dump_arguments(body)
            response["body"] = {"string": dump_json(body)}
    return cassette
