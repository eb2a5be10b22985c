"""The authored answers of the eval cassettes: assessments per desk, item and version, and the judge's rubric.

`tests/fixtures/eval/<desk>.yaml` holds each answer in a compact form (sections as
`[icon, heading, lead, [points], takeaway]`, forecasts as `[headline, horizon, likelihood,
detail]`), optionally starting from a sample assessment, with per-version differences:

    likelihoods / horizons   replace the outlook's bands / horizons in order
    sample_outlook           keep the sample's own outlook
    add_points               [[section index, text]] appended to a section's points
    first_attempt            the first answer is invalid in this way (the re-ask gets the valid one):
                             nine_forecasts, ascii_icon, blank_takeaway, two_sections
    any other field          replaces it

The judge's rubric is computed from the assessment's own checks (`service.eval.checks`),
so a calibrated outlook scores higher on calibration and a quotation the item does not
contain scores lower on faithfulness — authored, like the answers, not a model's opinion.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from schemas import Assessment
from service.eval.checks import check
from service.eval.suite import Item
from service.registry import Persona
from tools.scenarios import assessment as sample

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "eval"
DEFECTS = ("nine_forecasts", "ascii_icon", "blank_takeaway", "two_sections")


@cache
def desk(desk_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((FIXTURES / f"{desk_id}.yaml").read_text(encoding="utf-8"))
    return loaded


@cache
def echoes() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((FIXTURES / "echoes.yaml").read_text(encoding="utf-8"))
    return loaded


def spec(desk_id: str, item_id: str, version: str) -> dict[str, Any]:
    data = dict(desk(desk_id)[item_id])
    data.update((data.pop("versions", None) or {}).get(version, {}))
    return data


def answer(desk_id: str, item_id: str, version: str) -> dict[str, Any]:
    """The valid assessment `desk_id`@`version` answers to the item."""
    data = spec(desk_id, item_id, version)
    built: dict[str, Any] = copy.deepcopy(sample(data["sample"])) if "sample" in data else {}
    for field in ("title", "bottom_line", "closing"):
        if field in data:
            built[field] = " ".join(str(data[field]).split())
    if "sections" in data:
        built["sections"] = [
            {"icon": icon, "heading": heading, "lead": lead, "points": list(points), "takeaway": takeaway}
            for icon, heading, lead, points, takeaway in data["sections"]
        ]
    if "outlook" in data and not data.get("sample_outlook"):
        built["outlook"] = [
            {"headline": headline, "detail": detail, "horizon": horizon, "likelihood": likelihood}
            for headline, horizon, likelihood, detail in data["outlook"]
        ]
    for key, field in (("likelihoods", "likelihood"), ("horizons", "horizon")):
        for forecast, value in zip(built["outlook"], data.get(key, []), strict=False):
            forecast[field] = value
    for index, text in data.get("add_points", []):
        built["sections"][index]["points"].append(text)
    if "echo" in data:
        built["literary_echo"] = dict(echoes()[data["echo"]])
    Assessment.model_validate(built)  # authored answers are valid, or the authoring stops here
    return built


def first_attempt(desk_id: str, item_id: str, version: str) -> dict[str, Any] | None:
    """The invalid first answer, for an item whose first attempt is authored to fail the schema."""
    defect = spec(desk_id, item_id, version).get("first_attempt")
    if defect is None:
        return None
    if defect not in DEFECTS:
        raise ValueError(f"{desk_id}/{item_id}: unknown first_attempt {defect!r}; one of {DEFECTS}")
    bad = copy.deepcopy(answer(desk_id, item_id, version))
    if defect == "nine_forecasts":
        bad["outlook"] = (bad["outlook"] * 5)[:9]
    elif defect == "ascii_icon":
        bad["sections"][0]["icon"] = "*"
    elif defect == "blank_takeaway":
        bad["sections"][-1]["takeaway"] = " "
    else:
        bad["sections"] = bad["sections"][:2]
    return bad


def rubric(persona: Persona, item: Item, assessment: dict[str, Any]) -> dict[str, Any]:
    """The judge's scores for an authored answer, from what the answer's checks show."""
    checks = check(Assessment.model_validate(assessment), persona, item)
    expected = len(checks.mentioned) + len(checks.missed)
    concrete = 5 if expected and not checks.missed else 4 if len(checks.mentioned) else 3
    if checks.likelihood_bands >= 3 and checks.horizons >= 3:
        calibration, why = 5, "the forecasts span {h} horizons and {b} likelihood bands, each with an indicator"
    elif checks.likelihood_bands >= 2:
        calibration, why = 4, "the forecasts use {b} likelihood bands over {h} horizons"
    else:
        calibration, why = 2, "every forecast is marked the same ({b} band over {h} horizons)"
    unfaithful = checks.unverified_quotations
    faithful = 2 if unfaithful else 4 if checks.forbidden else 5
    judged = 4 if checks.sections >= 3 and not checks.forbidden else 3
    scores: dict[str, tuple[int, str]] = {
        "judgement_over_summary": (
            judged,
            f"{checks.sections} layers each state what the event changes"
            + (" though one forecast names what the item rules out." if checks.forbidden else "."),
        ),
        "concreteness": (
            concrete,
            "names "
            + (", ".join(checks.mentioned) if checks.mentioned else "few of the expected actors")
            + (f"; misses {', '.join(checks.missed)}." if checks.missed else "."),
        ),
        "calibration": (calibration, why.format(h=checks.horizons, b=checks.likelihood_bands) + "."),
        "faithfulness": (
            faithful,
            f"attributes words the item does not contain: “{unfaithful[0]}”."
            if unfaithful
            else "every fact attributed to the item is in it.",
        ),
    }
    weakest = min(scores, key=lambda criterion: scores[criterion][0])
    verdict = (
        "Publishable as it stands."
        if scores[weakest][0] >= 4
        else f"Revise before publishing: {weakest.replace('_', ' ')} is the weak point."
    )
    return {**{k: {"score": score, "reason": reason} for k, (score, reason) in scores.items()}, "verdict": verdict}


def tokens(text: str) -> int:
    """A token count for authored usage: about four characters a token, two for non-Latin scripts."""
    wide = sum(1 for ch in text if ord(ch) > 0x2FF)
    return max((len(text) - wide) // 4 + wide // 2, 1)


def usage(request: dict[str, Any], arguments: Any) -> tuple[int, int]:
    sent = json.dumps([request.get("messages"), request.get("tools")], ensure_ascii=False)
    return tokens(sent), tokens(json.dumps(arguments, ensure_ascii=False))
