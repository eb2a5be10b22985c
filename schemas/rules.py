"""Validation rules that also say themselves in JSON Schema.

A `Rule` is one check on a field (text length, item count, the icon) with the JSON Schema
keywords that say exactly the same thing. pydantic runs the check, with a message written
for the model to act on when instructor re-asks; the schema dialects (`schemas.dialects`)
put the keywords in the schema: all of them where decoding is constrained by the schema,
only those OpenAI's strict mode accepts in the published file. One definition, so the
validator and the schemas cannot drift apart (`tests/unit/schemas/test_dialects.py` checks it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

# Strict mode takes item counts but no string lengths and no `not` (its "Supported schemas").
STRICT_KEYWORDS = frozenset({"minItems", "maxItems"})

# One emoji: a flag (two regional indicators), or a pictograph with an optional variation
# selector or skin tone, joined to up to three more by zero-width joiners (👩‍🔬). Literal
# characters, not escapes: the grammar converters of llama.cpp and llama-cpp-python copy a
# character class as it is, and know no `\u` escapes.
# The regional indicators 🇦-🇿 are left out of the pictographs: they only come in pairs.
_PICTOGRAPH = "©®‼⁉™ℹ↔-↙↩↪⌚⌛⌨⏏⏩-⏳⏸-⏺Ⓜ▪▫▶◀◻-◾☀-➿⤴⤵⬅-⬇⬛⬜⭐⭕〰〽㊗㊙🀀-🇥🈀-🫿"
_MODIFIER = "\ufe0f\U0001f3fb-\U0001f3ff"
_ONE = f"[{_PICTOGRAPH}][{_MODIFIER}]?"
ICON_PATTERN = f"^([🇦-🇿][🇦-🇿]|{_ONE}(\u200d{_ONE}){{0,3}})$"
# Every character `str.isspace()` calls blank (what `strip()` removes), as the body of a
# character class both Python's `re` and GBNF read (tests/unit/schemas/test_dialects.py checks it).
BLANKS = " \\t\\n\\r\\x0b\\x0c\\x1c-\\x1f\\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def text_pattern(max_chars: int) -> str:
    """Non-blank text of at most `max_chars` characters, without `"`, `\\` or control characters.

    Grammar converters (llama.cpp's, llama-cpp-python's) apply a pattern to the raw JSON text
    of the string, validators to the decoded string; without `"` and `\\` (so without escapes)
    and without control characters (which JSON only allows escaped) the two read the same.
    The converters take no `not` and ignore lengths beside a pattern, so this is the one way
    to make a grammar refuse a blank string. Stricter than the validator (no leading blank,
    no `"`, `\\` or line break), never looser.
    """
    return f'^[^{BLANKS}"\\\\\\x01-\\x1f][^"\\\\\\x01-\\x1f]{{0,{max_chars - 1}}}$'


class Rule:
    """A check on a value, and the JSON Schema keywords that say the same."""

    def __init__(self, check: Callable[[Any], Any], keywords: dict[str, Any]) -> None:
        self.check = check
        self.keywords = keywords

    @property
    def strict_keywords(self) -> dict[str, Any]:
        return {k: v for k, v in self.keywords.items() if k in STRICT_KEYWORDS}

    def __call__(self, value: Any) -> Any:
        return self.check(value)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # The Rule itself is the validator function, so a schema generator can find its keywords.
        return core_schema.no_info_after_validator_function(self, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        target.update(self.strict_keywords)
        return json_schema


def text(max_chars: int) -> Rule:
    """Text that is not blank, at most `max_chars` characters long; surrounding blanks are dropped."""

    def check(value: str) -> str:
        if not value.strip():
            raise ValueError("this text is empty; write it out in full")
        if len(value) > max_chars:
            raise ValueError(f"this text must be at most {max_chars} characters; you gave {len(value)}. Tighten it.")
        return value.strip()

    return Rule(check, {"minLength": 1, "maxLength": max_chars, "pattern": text_pattern(max_chars)})


def count(low: int, high: int, noun: str) -> Rule:
    """A list of `low` to `high` items."""

    def check(items: list[Any]) -> list[Any]:
        if not low <= len(items) <= high:
            raise ValueError(f"this list must hold {low}–{high} {noun}; you gave {len(items)}")
        return items

    return Rule(check, {"minItems": low, "maxItems": high})


def _icon(value: str) -> str:
    # re.search, as JSON Schema validators apply `pattern`, so the two agree on every string.
    if re.search(ICON_PATTERN, value) is None:
        raise ValueError(f"icon must be a single emoji such as 🧭 or ⛏️, not {value!r}")
    return value.strip()


ICON = Rule(_icon, {"pattern": ICON_PATTERN})
