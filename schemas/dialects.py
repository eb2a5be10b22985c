"""The two JSON Schema dialects one output model is sent in.

- **published** (`model_json_schema()`, `schemas/<name>.v<major>.json`, the tool schema):
  what OpenAI's strict structured outputs accept. Item counts, enums, the language-tag
  pattern and the year's range; no string lengths, no `not`. The validators check the rest.
- **constrained** (`constrained_schema`): everything the validators check, for servers that
  turn the schema into a decoding grammar (llama.cpp, llama-cpp-python, vLLM): lengths,
  non-blank text, item counts, the icon's emoji pattern, the year's range. Text is a pattern
  their grammar converters read as validators do (`schemas.rules.text_pattern`): a little
  stricter than the validators, never looser; an integer range is also an `enum` of its
  values, since the converters ignore `minimum` and `maximum` (a year of 1485642317369401
  came out of llama-cpp-python's server without it). So such a server cannot produce an
  answer the validators reject.

Both come from the one pydantic model; the keywords of each check live beside it in
`schemas.rules`.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from schemas.rules import Rule

# Ranges up to this many values are also spelled out as an enum (the year: 5,101 values).
ENUM_RANGE_LIMIT = 10_000


class ConstrainedJsonSchema(GenerateJsonSchema):
    """pydantic's schema generator, plus every keyword of every `Rule`, and ranges as enums."""

    def int_schema(self, schema: core_schema.IntSchema) -> JsonSchemaValue:
        json_schema = super().int_schema(schema)
        low, high = json_schema.get("minimum"), json_schema.get("maximum")
        if isinstance(low, int) and isinstance(high, int) and high - low < ENUM_RANGE_LIMIT:
            json_schema["enum"] = list(range(low, high + 1))
        return json_schema

    def function_after_schema(self, schema: core_schema.AfterValidatorFunctionSchema) -> JsonSchemaValue:
        json_schema = super().function_after_schema(schema)
        rule = schema["function"]["function"]
        if isinstance(rule, Rule):
            json_schema = {**json_schema, **rule.keywords}
        return json_schema


@functools.cache
def constrained_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The constrained dialect of `model`; built once per model (callers must not change it)."""
    return model.model_json_schema(schema_generator=ConstrainedJsonSchema)
