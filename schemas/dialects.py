"""The two JSON Schema dialects one output model is sent in.

- **published** (`model_json_schema()`, `schemas/<name>.v<major>.json`, the tool schema):
  what OpenAI's strict structured outputs accept. Item counts, enums, the language-tag
  pattern and the year's range; no string lengths, no `not`. The validators check the rest.
- **constrained** (`constrained_schema`): everything the validators check, for servers that
  turn the schema into a decoding grammar (llama.cpp, llama-cpp-python, vLLM): lengths,
  non-blank text, item counts, the icon's emoji pattern. Text is a pattern their grammar
  converters read as validators do (`schemas.rules.text_pattern`): a little stricter than
  the validators, never looser, so such a server cannot produce an answer they reject.

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


class ConstrainedJsonSchema(GenerateJsonSchema):
    """pydantic's schema generator, plus every keyword of every `Rule`."""

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
