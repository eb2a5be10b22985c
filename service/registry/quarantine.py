"""Caller text is defused before it reaches any template, so it cannot leave its block.

Prompt templates quarantine caller text in a block (`<news_item source="…">…</news_item>`).
Every character that is, or that Unicode compatibility normalisation (NFKC/NFKD) turns
into, `<`, `>` or `"` is replaced by its HTML entity: with no `<` left, no input can close
the block or open another, however it is split, nested, or hidden among zero-width and
other format characters; with no `"`, none can leave an attribute. Nothing else changes,
so the news item still reaches the model whole.

Neutralising (rather than stripping tags, as the `untrusted` filter does) is what makes
this hold for every published version without editing their locked files.
its unit test checks the table against every code point of this Python's
Unicode database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Code points whose compatibility decomposition holds a delimiter (Unicode 14/15).
_TABLE = str.maketrans(
    {
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\u226e": "&lt;",  # NOT LESS-THAN (NFKD: < + U+0338)
        "\u226f": "&gt;",  # NOT GREATER-THAN
        "\ufe64": "&lt;",  # SMALL LESS-THAN SIGN
        "\ufe65": "&gt;",  # SMALL GREATER-THAN SIGN
        "\uff02": "&quot;",  # FULLWIDTH QUOTATION MARK
        "\uff1c": "&lt;",  # FULLWIDTH LESS-THAN SIGN
        "\uff1e": "&gt;",  # FULLWIDTH GREATER-THAN SIGN
    }
)
NEUTRALISED = frozenset(chr(code) for code in _TABLE)


def neutralise(text: str) -> str:
    """`text` with every delimiter-like character replaced by its entity."""
    return text.translate(_TABLE)


def neutralise_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: neutralise(value) if isinstance(value, str) else value for name, value in values.items()}
