"""Both JSON Schema dialects agree with the pydantic validators, on a corpus and on generated answers.

- constrained dialect (sent to grammar-constrained servers): never accepts what the
  validators reject; on plain text (no leading blank, no `"`, `\\` or control character,
  which its text pattern leaves out: schemas.rules.text_pattern) it accepts exactly what they
  accept.
- published dialect (OpenAI strict): never rejects what the validators accept, and rejects
  the same wrong item counts, enums and language tags they do; lengths and the icon are
  left to the validators.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from schemas import Assessment
from schemas.dialects import constrained_schema
from schemas.export import json_schema
from schemas.rules import BLANKS, ICON_PATTERN
from tools.scenarios import assessment

VALID = [
    assessment(name)
    for name in (
        "jp-01-us-japan-critical-minerals",
        "cn-01-rare-earth-export-controls",
        "kr-01-chip-equipment-waivers",
        "au-01-us-critical-minerals-framework",
    )
]
CONSTRAINED = Draft202012Validator(constrained_schema(Assessment))
PUBLISHED = Draft202012Validator(json_schema("assessment", 1))

# (path in the answer, longest text the validators accept)
TEXTS = [
    (("title",), 160),
    (("bottom_line",), 1000),
    (("closing",), 1000),
    (("sections", 0, "heading"), 160),
    (("sections", 1, "lead"), 1000),
    (("sections", 2, "points", 1), 600),
    (("sections", 0, "takeaway"), 600),
    (("outlook", 0, "headline"), 160),
    (("outlook", 1, "detail"), 1000),
    (("literary_echo", "original"), 600),
    (("literary_echo", "translation"), 600),
    (("literary_echo", "author"), 160),
    (("literary_echo", "work"), 160),
]
# (path of the list, fewest and most items the validators accept)
LISTS = [(("sections",), 3, 7), (("sections", 1, "points"), 2, 6), (("outlook",), 2, 6)]
ICONS_OK = ["🧭", "⛏️", "🔩", "🛰", "🛡", "🇺🇸", "👩‍🔬", "👍🏽", "⚖", "🏮"]
ICONS_WRONG = ["", " ", "1", "a🧭", "🧭 ", " 🧭", "🧭🧭", "🇺", "é", "->", "**", "🧭\t", "\n", "■■", "＾"]
BLANK_TEXTS = ["", " ", "\n", "\t \n", "\u3000", "\xa0\xa0"]


def validators_accept(answer: Any) -> bool:
    try:
        Assessment.model_validate(answer)
    except ValidationError:
        return False
    return True


def put(answer: Any, path: tuple[str | int, ...], value: Any) -> Any:
    changed = copy.deepcopy(answer)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def get(answer: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        answer = answer[key]
    return answer


def plain(node: Any, key: str = "") -> bool:
    """No text in the answer starts with a blank or holds `"`, `\\` or a control character."""
    if isinstance(node, dict):
        return all(plain(value, name) for name, value in node.items())
    if isinstance(node, list):
        return all(plain(item, key) for item in node)
    if isinstance(node, str) and key != "icon":
        return not node[:1].isspace() and not any(c in '"\\' or "\x01" <= c <= "\x1f" for c in node)
    return True


def check_agreement(answer: Any, *, published_carries_it: bool) -> bool:
    accepted = validators_accept(answer)
    constrained = CONSTRAINED.is_valid(answer)
    shown = json.dumps(answer, ensure_ascii=False)[:300]
    if constrained:
        assert accepted, f"the constrained schema accepts an answer the validators reject: {shown}"
    if plain(answer):
        assert constrained == accepted, shown
    if accepted:
        assert PUBLISHED.is_valid(answer), "the published schema rejects an answer the validators accept"
    elif published_carries_it:
        assert not PUBLISHED.is_valid(answer), "the published schema accepts a wrong count, enum or tag"
    return accepted


@pytest.mark.parametrize("answer", VALID, ids=lambda a: a["title"][:20])
def test_every_authored_answer_is_valid_in_both_dialects(answer: dict[str, Any]) -> None:
    assert check_agreement(answer, published_carries_it=True)


def path_id(value: object) -> str:
    return ".".join(map(str, value)) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize(("path", "limit"), TEXTS, ids=path_id)
def test_text_limits_agree(path: tuple[str | int, ...], limit: int) -> None:
    base = VALID[0]
    cases = {"x" * limit: True, "x" * (limit + 1): False, "x": True, "x  ": True, "日本の決断": True}
    for value, expected in cases.items():
        assert check_agreement(put(base, path, value), published_carries_it=False) == expected, value[:20]
    # Valid for the validators, left out by the constrained text pattern (stricter, never looser).
    for value in ("  x  ", 'He said "no".', "a\\b", "two\nlines"):
        answer = put(base, path, value)
        assert check_agreement(answer, published_carries_it=False)
        assert not CONSTRAINED.is_valid(answer), repr(value)
    for blank in BLANK_TEXTS:
        assert not check_agreement(put(base, path, blank), published_carries_it=False), repr(blank)


@pytest.mark.parametrize(
    ("path", "low", "high"), LISTS, ids=lambda p: ".".join(map(str, p)) if isinstance(p, tuple) else ""
)
def test_item_counts_agree_in_both_dialects(path: tuple[str | int, ...], low: int, high: int) -> None:
    base = VALID[0]
    items = get(base, path)
    for size in range(high + 2):
        accepted = check_agreement(put(base, path, (items * high)[:size]), published_carries_it=True)
        assert accepted == (low <= size <= high), size


def test_icons_agree() -> None:
    base = VALID[0]
    for icon in ICONS_OK:
        assert check_agreement(put(base, ("sections", 0, "icon"), icon), published_carries_it=False), icon
    for icon in ICONS_WRONG:
        assert not check_agreement(put(base, ("sections", 0, "icon"), icon), published_carries_it=False), icon


def test_enums_tags_and_years_agree_in_both_dialects() -> None:
    base = VALID[0]
    cases: list[tuple[tuple[str | int, ...], Any, bool]] = [
        (("outlook", 0, "horizon"), "3+ years", True),
        (("outlook", 0, "horizon"), "soon", False),
        (("outlook", 1, "likelihood"), "almost certain", True),
        (("outlook", 1, "likelihood"), "probable", False),
        (("literary_echo", "language"), "zh-Hans", True),
        (("literary_echo", "language"), "Japanese", False),
        (("literary_echo", "year"), None, True),
        (("literary_echo", "year"), 2101, False),
        (("literary_echo", "year"), -3000, True),
        (("literary_echo", "year"), -3001, False),
        (("literary_echo", "year"), 1485642317369401, False),
    ]
    for path, value, expected in cases:
        assert check_agreement(put(base, path, value), published_carries_it=True) == expected, (path, value)
    assert not check_agreement({**base, "signature": "JP-01"}, published_carries_it=True), "extra fields"


def test_where_pydantic_coerces_a_type_the_schemas_are_stricter() -> None:
    # pydantic's lax mode reads "1946" as a year; JSON Schema does not. The one direction
    # that matters holds: what a schema-constrained server can produce, the validators accept.
    answer = put(VALID[0], ("literary_echo", "year"), "1946")
    assert validators_accept(answer)
    assert not CONSTRAINED.is_valid(answer)
    assert not PUBLISHED.is_valid(answer)


def _text_near(limit: int) -> st.SearchStrategy[str]:
    around = st.integers(min_value=max(limit - 3, 0), max_value=limit + 3)
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(BLANK_TEXTS),
        st.builds(lambda n, pad: pad + "y" * n + pad, around, st.sampled_from(["", " ", "\n", "\u3000"])),
        st.builds(lambda s, n: (s or "z") * n, st.text(min_size=1, max_size=3), st.integers(1, limit // 2 + 2)),
    )


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A valid answer with one field changed: a text, an icon or a list length."""
    base = draw(st.sampled_from(VALID))
    kind = draw(st.sampled_from(["text", "icon", "list"]))
    if kind == "text":
        path, limit = draw(st.sampled_from(TEXTS))
        return put(base, path, draw(_text_near(limit))), False
    if kind == "icon":
        icon = draw(
            st.one_of(st.sampled_from(ICONS_OK + ICONS_WRONG), st.text(max_size=9), st.from_regex(ICON_PATTERN))
        )
        return put(base, ("sections", 0, "icon"), icon), False
    path, _, high = draw(st.sampled_from(LISTS))
    items = get(base, path)
    return put(base, path, (items * high)[: draw(st.integers(0, high + 2))]), True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_generated_answers_agree(case: tuple[dict[str, Any], bool]) -> None:
    answer, published_carries_it = case
    check_agreement(answer, published_carries_it=published_carries_it)


def test_the_blank_characters_are_exactly_what_strip_removes() -> None:
    blank = re.compile(f"[{BLANKS}]")
    every = map(chr, range(sys.maxunicode + 1))
    assert [c for c in every if c.isspace() != bool(blank.fullmatch(c))] == []
