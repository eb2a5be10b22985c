"""The `rubric` v1 schema: a judge persona's scores for one assessment of one news item.

Used by `attache eval --judge`: a judge persona in the registry (versioned and locked like
any desk) reads the news item and a desk's assessment and answers with this, through the
same provider path as an assessment. Each criterion is scored 1–5 with the reason, so a
report can show why a version scored lower, not only that it did.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.assessment import Passage

Points = Literal[1, 2, 3, 4, 5]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Score(_Strict):
    """One criterion: the score and the evidence for it."""

    score: Points = Field(description="1 (poor) to 5 (excellent).")
    reason: Passage = Field(description="The evidence for the score, citing the assessment; one or two sentences.")


class Rubric(_Strict):
    """A judge's scores for one assessment of one news item."""

    judgement_over_summary: Score = Field(
        description="Does the assessment judge what the event changes, for whom and why (5), or retell the news (1)?"
    )
    concreteness: Score = Field(
        description="Named actors, instruments, mechanisms and dates (5), or abstractions and generalities (1)."
    )
    calibration: Score = Field(
        description="Forecasts with horizons and likelihoods chosen on purpose, spread where the event allows, each "
        "with an indicator (5); or everything one band and vague (1)."
    )
    faithfulness: Score = Field(
        description="Facts as the news item reports them and quotations found in it (5); or invented quotations, "
        "figures or attributions (1)."
    )
    verdict: Passage = Field(description="One or two sentences an editor would act on.")
