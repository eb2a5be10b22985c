"""The `assessment` v1 schema: what a persona answers, read off the JP-01 sample.

This pydantic model is the single definition. Its field descriptions reach the model
(instructor sends them as the tool schema), `schemas/assessment.v1.json` is generated from
it, and the HTTP envelope embeds it. Constraints the JSON Schema of OpenAI's strict mode
cannot carry (string lengths, emoji checks) are validators whose messages are written for
the model to act on when instructor re-asks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

BCP47 = r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$"

Horizon = Literal["0-3 months", "3-12 months", "1-3 years", "3+ years"]
# The UK Professional Head of Intelligence Assessment probability yardstick: a fixed
# vocabulary callers can branch on, where the prose sample only says "likely", "could".
Likelihood = Literal[
    "remote chance",
    "highly unlikely",
    "unlikely",
    "realistic possibility",
    "likely",
    "highly likely",
    "almost certain",
]


def _text(max_chars: int) -> AfterValidator:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("this text is empty; write it out in full")
        if len(value) > max_chars:
            raise ValueError(f"this text must be at most {max_chars} characters; you gave {len(value)}. Tighten it.")
        return value

    return AfterValidator(check)


def _count(low: int, high: int, noun: str) -> AfterValidator:
    def check(items: list[Any]) -> list[Any]:
        if not low <= len(items) <= high:
            raise ValueError(f"this list must hold {low}–{high} {noun}; you gave {len(items)}")
        return items

    return AfterValidator(check)


def _icon(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 8 or any(ch.isascii() for ch in value):
        raise ValueError(f"icon must be a single emoji such as 🧭 or ⛏️, not {value!r}")
    return value


# Lengths are validators, not maxLength: OpenAI's strict mode rejects string-length keywords.
Line = Annotated[str, _text(160)]
Passage = Annotated[str, _text(600)]
Paragraph = Annotated[str, _text(1500)]
Icon = Annotated[str, AfterValidator(_icon)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Section(_Strict):
    """One numbered strategic layer of the assessment."""

    icon: Icon = Field(description="One emoji that marks the layer, as in the sample: 🧭 ⛏️ 🔩 🛰 🛡")
    heading: Line = Field(description="The layer's heading, e.g. 'Geostrategic Context: Pre-Xi Summit Signaling'.")
    lead: Paragraph = Field(description="The lead paragraph: the judgement this layer makes and why.")
    points: Annotated[list[Passage], _count(2, 6, "bullet points")] = Field(
        description="2–6 bullet points of evidence, mechanisms or implications; each one or two sentences.",
        json_schema_extra={"minItems": 2, "maxItems": 6},
    )
    takeaway: Passage = Field(description="One closing line that names what this layer means strategically.")


class Forecast(_Strict):
    """One item of the forward outlook."""

    headline: Line = Field(description="A short forecast, e.g. 'China to test Japan's resolve'.")
    detail: Paragraph = Field(description="What is expected to happen, through which actors and mechanisms.")
    horizon: Horizon = Field(description="When the forecast is expected to play out.")
    likelihood: Likelihood = Field(description="How likely it is, on the PHIA probability yardstick.")


class LiteraryEcho(_Strict):
    """A quotation in the persona's own language that echoes the assessment."""

    original: Passage = Field(description="The quotation in its original language and script.")
    language: str = Field(description="BCP 47 tag of the original, e.g. 'ja', 'zh-Hans', 'ko', 'hi'.", pattern=BCP47)
    translation: Passage = Field(description="A faithful English translation of the quotation.")
    author: Line = Field(description="The author, e.g. 'Ango Sakaguchi'.")
    work: Line = Field(description="The work with its original title, e.g. 'Discourse on Decadence (堕落論)'.")
    year: int | None = Field(
        description="Year the work was first published, or null when it is not known.", ge=-3000, le=2100
    )


class Assessment(_Strict):
    """An analyst persona's in-depth assessment of a news item."""

    title: Line = Field(
        description="The title, e.g. 'JP-01 Assessment: Strategic Layers of the U.S.–Japan Critical Minerals Accord'."
    )
    bottom_line: Paragraph = Field(
        description="The opening judgement: what the event really is, in one or two sentences, before any detail."
    )
    sections: Annotated[list[Section], _count(3, 7, "strategic layers")] = Field(
        description="3–7 numbered strategic layers, in the order they should be read.",
        json_schema_extra={"minItems": 3, "maxItems": 7},
    )
    outlook: Annotated[list[Forecast], _count(2, 6, "forecasts")] = Field(
        description="The forward outlook: 2–6 forecasts, each with a horizon and a likelihood.",
        json_schema_extra={"minItems": 2, "maxItems": 6},
    )
    closing: Paragraph = Field(description="The final paragraph: the larger meaning of the event, stated plainly.")
    literary_echo: LiteraryEcho = Field(description="A quotation from the persona's own literary tradition.")
