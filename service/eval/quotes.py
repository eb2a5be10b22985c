"""Quotations an assessment attributes to the news item, and whether each is in it word for word.

Analysts put their own coinages in quotation marks ("strategic decoupling by alliance-
building"); those claim no source. A quotation counts as attributed when its sentence
reports speech — `said`, `called`, `announced`, `according to`, `the statement` … — before
it, or `said` and the like right after it. Such a quotation must be found in the news item,
ignoring case, the style of quotes and dashes, and spacing; an ellipsis (… or ...) may join
fragments that are each found, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Straight or curly double quotes, and single quotes that open after a space and close before one.
_QUOTED = re.compile(
    r"[\"“”„](?P<double>[^\"“”„]{3,400}?)[\"“”]"
    r"|(?:(?<=^)|(?<=[\s(\[—–-]))['‘](?P<single>[^'‘’]{3,400}?)['’](?=[\s.,;:!?)\]—–-]|$)"
)
_REPORTING = re.compile(
    r"\b(said|says|saying|stated|states|announced|announces|declared|declares|called|calls|calling|"
    r"described|describes|pledged|pledges|warned|warns|told|wrote|writes|noted|notes|vowed|vows|"
    r"promised|promises|insisted|insists|according to|in the words of|put it|the statement|the ministry|"
    r"the item|the report|the announcement|quoted|quoting)\b",
    re.IGNORECASE,
)
_AFTER = re.compile(r"^[\s,]{0,3}(?:\w+\s){0,3}(said|says|stated|announced|declared|wrote|added)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]\s")
_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-", "\u00a0": " "})
_ELLIPSIS = re.compile(r"\s*(?:…|\.\.\.)\s*")


@dataclass(frozen=True, slots=True)
class Quotation:
    text: str
    verbatim: bool


def attributed_quotations(prose: str, source: str) -> list[Quotation]:
    """Each quotation in `prose` attributed to someone in the news `source`, checked against it."""
    found = []
    for match in _QUOTED.finditer(prose):
        quoted = (match.group("double") or match.group("single") or "").strip()
        if len(quoted.split()) < 2 and not _has_cjk(quoted):
            continue  # a single quoted word is a term, not a quotation
        before = prose[: match.start()]
        sentence = before[_last_sentence_start(before) :]
        if _REPORTING.search(sentence) or _AFTER.match(prose[match.end() :]):
            found.append(Quotation(quoted, is_verbatim(quoted, source)))
    return found


def is_verbatim(quoted: str, source: str) -> bool:
    haystack = _normalise(source)
    position = 0
    for fragment in _ELLIPSIS.split(quoted):
        needle = _normalise(fragment).strip(" .,;:'\"")
        if not needle:
            continue
        found = haystack.find(needle, position)
        if found < 0:
            return False
        position = found + len(needle)
    return True


def _normalise(text: str) -> str:
    return " ".join(text.translate(_FOLD).casefold().split())


def _last_sentence_start(text: str) -> int:
    ends = list(_SENTENCE_END.finditer(text))
    return ends[-1].end() if ends else 0


def _has_cjk(text: str) -> bool:
    return any("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in text)
