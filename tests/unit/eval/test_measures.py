"""What eval measures: checks read off a typed assessment, figures per version, thresholds, prices."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from schemas import Assessment
from service.eval.checks import check, echo_in_language
from service.eval.measures import BY_NAME, figures, format_value
from service.eval.prices import PricesInvalid, PriceTable
from service.eval.quotes import attributed_quotations
from service.eval.runner import ItemResult
from service.eval.suite import Expectations, Item
from service.eval.thresholds import RuleInvalid, evaluate, parse_rules
from service.registry import load_registry
from service.settings import DEFAULT_REGISTRY_DIR
from tools.news import KOREA_CHIP_WAIVERS, US_JAPAN_MINERALS
from tools.scenarios import assessment

REGISTRY = load_registry(DEFAULT_REGISTRY_DIR)
JP = REGISTRY.personas["jp-01"]
SAMPLE = assessment("jp-01-us-japan-critical-minerals")


def item(context: str = US_JAPAN_MINERALS, **expect: list[str]) -> Item:
    return Item(suite="t", id="x", context=context, expect=Expectations(**expect))


def edited(**changes: Any) -> Assessment:
    answer = copy.deepcopy(SAMPLE)
    answer.update(changes)
    return Assessment.model_validate(answer)


# -- quotations ------------------------------------------------------------------------------


def test_a_quotation_attributed_to_the_item_is_checked_against_it_and_a_coinage_is_not() -> None:
    prose = (
        "This is classic “strategic decoupling by alliance-building”. "
        'Commerce said it "intends to grant licences to operate existing fabs". '
        'Washington called the move "a necessary step to protect national security". '
        "As the department put it, 'not to expand capacity … in China'. "
        "The rule, Commerce said, 'bars all shipments'."
    )
    found = {q.text: q.verbatim for q in attributed_quotations(prose, KOREA_CHIP_WAIVERS)}
    assert found == {
        "intends to grant licences to operate existing fabs": True,
        "a necessary step to protect national security": False,
        "not to expand capacity … in China": True,
        "bars all shipments": False,
    }


def test_quotes_case_dashes_and_spacing_do_not_matter() -> None:
    news = "He said the sites had been 'completely and totally obliterated' and warned Iran."
    [quote] = attributed_quotations("Trump said they were “Completely  and totally obliterated.”", news)
    assert quote.verbatim


# -- checks ----------------------------------------------------------------------------------


def test_the_sample_passes_the_checks_a_desk_is_held_to() -> None:
    checks = check(Assessment.model_validate(SAMPLE), JP, item(must_mention=["JOGMEC", "Rare Earth"]))
    assert (checks.sections, checks.horizons, checks.likelihood_bands) == (5, 3, 2)
    assert checks.echo_in_language
    assert checks.title_callsign
    assert (checks.mentioned, checks.missed, checks.forbidden) == (["JOGMEC", "Rare Earth"], [], [])


def test_each_check_fails_when_the_assessment_falls_short() -> None:
    one_band = [{**f, "likelihood": "likely", "horizon": "1-3 years"} for f in SAMPLE["outlook"]]
    answer = edited(title="Assessment: the accord", outlook=one_band)
    checks = check(answer, JP, item(must_mention=["JBIC"], must_not_mention=["sonar"]))
    assert (checks.horizons, checks.likelihood_bands) == (1, 1)
    assert not checks.title_callsign
    assert (checks.missed, checks.forbidden) == (["JBIC"], ["sonar"])


@pytest.mark.parametrize(
    ("original", "language", "persona_language", "expected"),
    [
        ("ゆく河の流れは絶えずして", "ja", "ja", True),
        ("The flowing river never stops.", "en", "ja", False),  # a translation only
        ("The flowing river never stops.", "ja", "ja", False),  # tagged Japanese, written in English
        ("是故百战百胜，非善之善者也", "lzh", "zh-Hans", True),  # Literary Chinese is Chinese
        ("죽는 날까지 하늘을 우러러", "ko", "ko", True),
        ("कर्मण्येवाधिकारस्ते मा फलेषु कदाचन", "sa", "hi", False),  # Sanskrit for a Hindi desk
        ("I love a sunburnt country", "en", "en-AU", True),
        ("Dulce et decorum est pro patria mori.", "la", "en-AU", False),
    ],
)
def test_the_echo_is_in_the_personas_language_and_script(
    original: str, language: str, persona_language: str, expected: bool
) -> None:
    echo = {**SAMPLE["literary_echo"], "original": original, "language": language}
    assert echo_in_language(edited(literary_echo=echo), persona_language) is expected


# -- figures and thresholds ------------------------------------------------------------------


def result(version: str, *, ok: bool = True, reasks: int = 0, latency: float = 100.0, **extra: Any) -> ItemResult:
    checks = check(Assessment.model_validate(SAMPLE), JP, item()) if ok else None
    return ItemResult(
        version=version,
        suite="t",
        item=f"i{latency}",
        outcome="ok" if ok else "upstream_unavailable",
        attempts=1 + reasks,
        reasks=reasks,
        input_tokens=2000,
        output_tokens=1000,
        latency_ms=latency,
        checks=checks,
        cost=0.015,
        **extra,
    )


def test_figures_per_version_count_faults_against_it_and_say_na_rather_than_zero() -> None:
    results = [result("1.1.0", latency=ms) for ms in (100, 200, 300, 400)] + [
        result("1.1.0", ok=False, reasks=0, latency=5000)
    ]
    found = figures(results, judged=False)
    assert found["ok_rate"] == 0.8
    assert found["first_attempt_valid"] == 0.8
    assert found["latency_p50"] == 300
    assert found["latency_p95"] == 5000
    assert found["quotes_verbatim"] is None, "no quotations to verify: n/a, not 0"
    assert found["must_mention"] is None
    assert found["cost"] == pytest.approx(0.075)
    assert "judge_calibration" not in found
    assert format_value(BY_NAME["ok_rate"], found["ok_rate"]) == "80 %"
    assert format_value(BY_NAME["quotes_verbatim"], None) == "n/a"


def test_thresholds_absolute_relative_and_as_a_difference() -> None:
    per_version = {
        "1.0.0": {"first_attempt_valid": 1.0, "reasks": 0.2, "input_tokens": 2000.0, "quotes_verbatim": None},
        "1.1.0": {"first_attempt_valid": 0.9, "reasks": 0.21, "input_tokens": 2300.0, "quotes_verbatim": None},
    }
    rules = parse_rules(
        "first_attempt_valid<0.95, reasks>+10%, input_tokens>+200, quotes_verbatim<1", baseline="1.0.0", judged=False
    )
    verdicts = {v.rule: v for v in evaluate(rules, per_version, "1.0.0")}
    assert set(verdicts) == {"first_attempt_valid<0.95", "reasks>+10%", "input_tokens>+200", "quotes_verbatim<1"}
    assert verdicts["first_attempt_valid<0.95"].failed
    assert not verdicts["reasks>+10%"].failed
    assert verdicts["reasks>+10%"].limit == pytest.approx(0.22)
    assert verdicts["input_tokens>+200"].failed
    assert "fails above 2,200 (baseline 1.0.0: 2,000)" in verdicts["input_tokens>+200"].said
    assert not verdicts["quotes_verbatim<1"].failed, "n/a is reported, not failed"
    assert all(v.version == "1.1.0" for v in verdicts.values()), "the baseline is not judged against itself"


@pytest.mark.parametrize(
    ("text", "baseline", "judged", "message"),
    [
        ("reasks>>1", None, False, "is not a rule"),
        ("speed<1", None, False, "no measure 'speed'"),
        ("reasks>+10%", None, False, "name one with --baseline"),
        ("reasks>10%", "1.0.0", False, "write it signed"),
        ("judge_calibration<4", None, False, "needs --judge"),
    ],
)
def test_a_bad_rule_says_why(text: str, baseline: str | None, judged: bool, message: str) -> None:
    with pytest.raises(RuleInvalid, match=message):
        parse_rules(text, baseline=baseline, judged=judged)


# -- prices ----------------------------------------------------------------------------------


def test_prices_built_in_from_a_file_and_unknown_models(tmp_path: Path) -> None:
    table = PriceTable.default()
    assert table.cost("gpt-4o-2024-08-06", 1_000_000, 100_000) == pytest.approx(3.5)
    assert table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15), "a dated name, priced undated"
    assert table.cost("qwen2.5:14b", 1000, 1000) is None, "no price is unknown, never free"
    path = tmp_path / "prices.yaml"
    path.write_text("qwen2.5:14b: {input: 0, output: 0}\ngpt-4o-2024-08-06: {input: 1.25, output: 5}\n")
    mine = PriceTable.from_file(path)
    assert mine.cost("qwen2.5:14b", 1000, 1000) == 0
    assert mine.cost("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(1.25)
    path.write_text("gpt-4o: {input: 1, output: 2}\nbad: {input: -1, output: 2}\n")
    with pytest.raises(PricesInvalid, match=rf"{path}:2: `bad.input`: Expected `float` >= 0"):
        PriceTable.from_file(path)


def test_docs_lifecycle_describes_every_measure() -> None:
    page = (DEFAULT_REGISTRY_DIR.parent / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    for measure in BY_NAME:
        assert f"`{measure}`" in page, f"docs/lifecycle.md does not describe {measure}"
