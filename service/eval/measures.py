"""Per-version figures over the items of a run: one definition each, used by every report and threshold.

Rates are over every item run (a fault counts against its version); the checks of the
assessment are over the items that produced one. A measure that cannot be computed (no
quotations to verify, no judge, no price for the model) is None, shown as "n/a", never 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from service.eval.runner import ItemResult

Better = Literal["higher", "lower"] | None
Format = Literal["share", "number", "ms", "usd", "tokens", "score"]
Figures = dict[str, float | None]


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    label: str
    better: Better
    format: Format
    description: str
    compute: Callable[[Sequence[ItemResult]], float | None]
    judge: bool = False


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the value at least `q` of the items are at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(max(math.ceil(q * len(ordered)), 1), len(ordered))
    return ordered[rank - 1]


def _ok(results: Sequence[ItemResult]) -> list[ItemResult]:
    return [r for r in results if r.ok and r.checks is not None]


def _checks(results: Sequence[ItemResult], field: str) -> list[float]:
    return [float(getattr(r.checks, field)) for r in _ok(results)]


def _quotations(results: Sequence[ItemResult]) -> float | None:
    checks = [r.checks for r in _ok(results) if r.checks is not None]
    total = sum(c.quotations for c in checks)
    return sum(c.quotations_verbatim for c in checks) / total if total else None


def _mentions(results: Sequence[ItemResult]) -> float | None:
    checks = [r.checks for r in _ok(results) if r.checks is not None]
    expected = sum(len(c.mentioned) + len(c.missed) for c in checks)
    return sum(len(c.mentioned) for c in checks) / expected if expected else None


def _cost(results: Sequence[ItemResult]) -> float | None:
    costs = [r.cost for r in results if r.attempts]
    return sum(c for c in costs if c is not None) if costs and all(c is not None for c in costs) else None


def _judge(criterion: str) -> Callable[[Sequence[ItemResult]], float | None]:
    def compute(results: Sequence[ItemResult]) -> float | None:
        return _mean([float(r.judge[criterion]["score"]) for r in results if r.judge is not None])

    return compute


def _latencies(results: Sequence[ItemResult]) -> list[float]:
    return [r.latency_ms for r in results if r.latency_ms is not None and r.attempts]


MEASURES: list[Measure] = [
    Measure("items", "Items run", None, "number", "News items run through this version.", lambda rs: float(len(rs))),
    Measure("ok_rate", "Answered", "higher", "share", "Items answered with a valid assessment (any attempt).",
            lambda rs: _share([r.ok for r in rs])),
    Measure("first_attempt_valid", "Valid at the first attempt", "higher", "share",
            "Items whose first answer passed the schema: no re-ask, no failure.",
            lambda rs: _share([r.first_attempt_valid for r in rs])),
    Measure("reasks", "Re-asks per item", "lower", "number",
            "Answers sent back for failing the schema, per item.", lambda rs: _mean([r.reasks for r in rs])),
    Measure("attempts", "Provider calls per item", "lower", "number",
            "Every provider call, failed ones and re-asks included, per item.",
            lambda rs: _mean([r.attempts for r in rs])),
    Measure("input_tokens", "Input tokens per item", "lower", "tokens",
            "Input tokens billed per answered item, re-asks included.",
            lambda rs: _mean([r.input_tokens for r in rs if r.ok])),
    Measure("output_tokens", "Output tokens per item", "lower", "tokens",
            "Output tokens billed per answered item, re-asks included.",
            lambda rs: _mean([r.output_tokens for r in rs if r.ok])),
    Measure("cost", "Cost of the run", "lower", "usd",
            "US dollars for every answered item, from the price table; n/a if a model has no price.", _cost),
    Measure("latency_p50", "Latency p50", "lower", "ms", "Median wall time of an item, retries included.",
            lambda rs: _percentile(_latencies(rs), 0.5)),
    Measure("latency_p95", "Latency p95", "lower", "ms", "95th percentile wall time of an item.",
            lambda rs: _percentile(_latencies(rs), 0.95)),
    Measure("sections", "Strategic layers", None, "number", "Sections per assessment.",
            lambda rs: _mean(_checks(rs, "sections"))),
    Measure("horizons", "Distinct horizons", "higher", "number",
            "Distinct horizons in an assessment's outlook.", lambda rs: _mean(_checks(rs, "horizons"))),
    Measure("likelihood_bands", "Distinct likelihood bands", "higher", "number",
            "Distinct likelihoods in an assessment's outlook.", lambda rs: _mean(_checks(rs, "likelihood_bands"))),
    Measure("likelihood_spread", "Outlook not all one band", "higher", "share",
            "Assessments whose forecasts use more than one likelihood band.",
            lambda rs: _share([v > 1 for v in _checks(rs, "likelihood_bands")])),
    Measure("echo_in_language", "Echo in the persona's language", "higher", "share",
            "Literary echoes tagged with the persona's language and written in its script.",
            lambda rs: _share([bool(v) for v in _checks(rs, "echo_in_language")])),
    Measure("title_callsign", "Title carries the callsign", "higher", "share",
            "Titles that name the persona's callsign.",
            lambda rs: _share([bool(v) for v in _checks(rs, "title_callsign")])),
    Measure("quotes_verbatim", "Attributed quotations verbatim", "higher", "share",
            "Quotations the assessment attributes to the news item that are in it word for word.", _quotations),
    Measure("must_mention", "Expected phrases mentioned", "higher", "share",
            "The suite's must_mention phrases found in the assessments.", _mentions),
    Measure("must_not_mention", "Forbidden phrases per item", "lower", "number",
            "The suite's must_not_mention phrases found, per assessment.",
            lambda rs: _mean([float(len(r.checks.forbidden)) for r in _ok(rs) if r.checks is not None])),
    Measure("judge_judgement", "Judge: judgement over summary", "higher", "score",
            "The judge persona's score, 1–5.", _judge("judgement_over_summary"), judge=True),
    Measure("judge_concreteness", "Judge: concreteness", "higher", "score",
            "The judge persona's score, 1–5.", _judge("concreteness"), judge=True),
    Measure("judge_calibration", "Judge: calibration", "higher", "score",
            "The judge persona's score, 1–5.", _judge("calibration"), judge=True),
    Measure("judge_faithfulness", "Judge: faithfulness", "higher", "score",
            "The judge persona's score, 1–5.", _judge("faithfulness"), judge=True),
]  # fmt: skip
BY_NAME = {m.name: m for m in MEASURES}


def figures(results: Sequence[ItemResult], *, judged: bool) -> Figures:
    return {m.name: m.compute(results) for m in MEASURES if judged or not m.judge}


def format_value(measure: Measure, value: float | None) -> str:
    if value is None:
        return "n/a"
    match measure.format:
        case "share":
            return f"{value * 100:.0f} %"
        case "ms":
            return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"
        case "usd":
            return f"${value:.4f}" if value < 1 else f"${value:,.2f}"
        case "tokens":
            return f"{value:,.0f}"
        case "score":
            return f"{value:.2f}"
        case _:
            return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
