"""What one typed assessment shows, computed from its fields (no model involved).

- `sections`: how many strategic layers;
- `horizons`, `likelihood_bands`: distinct horizons and likelihoods in the outlook (a
  calibrated outlook is not all one band);
- `echo_in_language`: the literary echo is tagged with the persona's language (Literary
  Chinese counts as Chinese) and its original is written in that language's script;
- `title_callsign`: the title carries the persona's callsign (`JP-01 Assessment: …`);
- quotations the assessment attributes to the news item, and how many are in it verbatim;
- the item's expectations: `must_mention` phrases found, `must_not_mention` phrases found.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from schemas import Assessment
from service.eval.quotes import attributed_quotations
from service.eval.suite import Item
from service.registry import Persona

# One family for a macrolanguage and the tags an echo may carry for it.
LANGUAGE_FAMILY = {"lzh": "zh", "cmn": "zh", "yue": "zh", "wuu": "zh", "hak": "zh", "nan": "zh"}
# The Unicode script names each language's original is written in; anything else: Latin.
SCRIPTS = {
    "ja": ("HIRAGANA", "KATAKANA", "CJK UNIFIED"),
    "zh": ("CJK UNIFIED",),
    "ko": ("HANGUL",),
    "hi": ("DEVANAGARI",),
    "sa": ("DEVANAGARI",),
    "mr": ("DEVANAGARI",),
    "ar": ("ARABIC",),
    "fa": ("ARABIC",),
    "ru": ("CYRILLIC",),
    "uk": ("CYRILLIC",),
    "he": ("HEBREW",),
    "el": ("GREEK",),
    "th": ("THAI",),
}
LATIN = ("LATIN",)


@dataclass(frozen=True, slots=True)
class Checks:
    sections: int
    horizons: int
    likelihood_bands: int
    echo_in_language: bool
    title_callsign: bool
    quotations: int
    quotations_verbatim: int
    unverified_quotations: list[str]
    mentioned: list[str]
    missed: list[str]
    forbidden: list[str]


def check(assessment: Assessment, persona: Persona, item: Item) -> Checks:
    prose = prose_of(assessment)
    quotations = attributed_quotations(prose, item.context)
    everything = f"{assessment.title}\n{prose}".casefold()
    expect = item.expect
    return Checks(
        sections=len(assessment.sections),
        horizons=len({f.horizon for f in assessment.outlook}),
        likelihood_bands=len({f.likelihood for f in assessment.outlook}),
        echo_in_language=echo_in_language(assessment, persona.spec.language),
        title_callsign=persona.spec.callsign.casefold() in assessment.title.casefold(),
        quotations=len(quotations),
        quotations_verbatim=sum(q.verbatim for q in quotations),
        unverified_quotations=[q.text for q in quotations if not q.verbatim],
        mentioned=[p for p in expect.must_mention if p.casefold() in everything],
        missed=[p for p in expect.must_mention if p.casefold() not in everything],
        forbidden=[p for p in expect.must_not_mention if p.casefold() in everything],
    )


def prose_of(assessment: Assessment) -> str:
    """The analysis, one passage a line: what quotations and phrases are looked for in (not the echo)."""
    parts = [assessment.bottom_line]
    for section in assessment.sections:
        parts += [section.heading, section.lead, *section.points, section.takeaway]
    for forecast in assessment.outlook:
        parts += [forecast.headline, forecast.detail]
    parts.append(assessment.closing)
    return "\n".join(parts)


def language_family(tag: str) -> str:
    primary = tag.split("-")[0].casefold()
    return LANGUAGE_FAMILY.get(primary, primary)


def echo_in_language(assessment: Assessment, persona_language: str) -> bool:
    echo = assessment.literary_echo
    family = language_family(persona_language)
    if language_family(echo.language) != family:
        return False
    letters = [ch for ch in echo.original if ch.isalpha()]
    if not letters:
        return False
    scripts = SCRIPTS.get(family, LATIN)
    in_script = sum(1 for ch in letters if unicodedata.name(ch, "").startswith(scripts))
    return in_script / len(letters) >= 0.5
