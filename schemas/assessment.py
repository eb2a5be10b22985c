"""The `assessment` v1 schema: what a persona answers, read off the JP-01 sample.

This pydantic model is the single definition. Its field descriptions reach the model
(instructor sends them as the tool schema), `schemas/assessment.v1.json` is generated from
it, and the HTTP envelope embeds it. Constraints the JSON Schema of OpenAI's strict mode
cannot carry (string lengths, emoji checks) are validators whose messages are written for
the model to act on when instructor re-asks; each also says itself in the constrained
schema dialect (`schemas.rules`, `schemas.dialects`) sent to grammar-constrained servers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.rules import ICON, count, text

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


# Lengths are not in the published schema: OpenAI's strict mode rejects string-length keywords.
# A paragraph is at most 1,000 characters (the sample's longest is 338): llama-cpp-python's
# server cannot build a decoding grammar for a longer `maxLength` (measured: 1,000 builds,
# 1,050 fails with "exceeds sane defaults").
Line = Annotated[str, text(160)]
Passage = Annotated[str, text(600)]
Paragraph = Annotated[str, text(1000)]
Icon = Annotated[str, ICON]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Section(_Strict):
    """One numbered strategic layer of the assessment."""

    icon: Icon = Field(description="One emoji that marks the layer, as in the sample: 🧭 ⛏️ 🔩 🛰 🛡")
    heading: Line = Field(description="The layer's heading, e.g. 'Geostrategic Context: Pre-Xi Summit Signaling'.")
    lead: Paragraph = Field(description="The lead paragraph: the judgement this layer makes and why.")
    points: Annotated[list[Passage], count(2, 6, "bullet points")] = Field(
        description="2–6 bullet points of evidence, mechanisms or implications; each one or two sentences."
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
    sections: Annotated[list[Section], count(3, 7, "strategic layers")] = Field(
        description="3–7 numbered strategic layers, in the order they should be read."
    )
    outlook: Annotated[list[Forecast], count(2, 6, "forecasts")] = Field(
        description="The forward outlook: 2–6 forecasts, each with a horizon and a likelihood."
    )
    closing: Paragraph = Field(description="The final paragraph: the larger meaning of the event, stated plainly.")
    literary_echo: LiteraryEcho = Field(description="A quotation from the persona's own literary tradition.")
