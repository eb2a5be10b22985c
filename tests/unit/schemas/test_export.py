"""The published JSON Schema: generated from the model, never stale, accepted by strict mode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import SCHEMAS
from schemas.export import main as export_main
from schemas.export import render, schema_path

# The keywords OpenAI's strict structured outputs accept (platform docs, "Supported schemas").
STRICT_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
    "$ref", "$defs", "description", "title", "pattern", "format", "minItems", "maxItems",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "$schema", "$id",
}  # fmt: skip


def walk(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            if key in ("properties", "$defs"):
                found += [item for name, sub in value.items() for item in walk(sub, f"{path}.{name}")]
            elif isinstance(value, dict | list):
                found += walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += walk(item, f"{path}[{index}]")
    return found


def test_every_published_schema_file_is_current() -> None:
    for name, major in SCHEMAS:
        assert schema_path(name, major).read_text(encoding="utf-8") == render(name, major), (
            f"{schema_path(name, major)} is stale: run `make schemas`"
        )
    assert export_main(["--check"]) == 0


@pytest.mark.parametrize(("name", "major"), list(SCHEMAS))
def test_every_schema_is_accepted_by_openai_strict_mode(name: str, major: int) -> None:
    document = json.loads(schema_path(name, major).read_text(encoding="utf-8"))
    for path, node in walk(document):
        unsupported = set(node) - STRICT_KEYWORDS
        assert not unsupported, f"{path} uses {unsupported}, which strict mode rejects"
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False, f"{path} must forbid extra properties"
            assert set(node.get("required", [])) == set(node["properties"]), f"{path}: every field required"


def test_optional_fields_are_nullable_not_omitted() -> None:
    document = json.loads(schema_path("assessment", 1).read_text(encoding="utf-8"))
    year = document["$defs"]["LiteraryEcho"]["properties"]["year"]
    assert {"type": "null"} in year["anyOf"]
