"""`--fail-on`: the conditions that make `attache eval` exit non-zero, so CI can gate a registry change.

Comma-separated rules `<measure><op><limit>`, each naming a failure:

    first_attempt_valid<0.95    fails when a version is valid at the first attempt less than 95 % of the time
    reasks>+10%                 fails when a version re-asks more than 10 % more than the baseline
    input_tokens>+200           fails when it needs more than 200 input tokens per item above the baseline
    latency_p95>=30000          fails at a p95 of 30 s or more

A plain number is absolute; a signed one (`+10%`, `-5%`, `+200`, `-0.1`) is relative to
`--baseline`, as a percentage or a difference. The rules apply to every version but the
baseline. A measure that is n/a for a version (no quotations to verify, no price) is
reported as such and does not fail.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from service.eval.measures import BY_NAME, Figures, format_value

RULE = re.compile(r"^(?P<measure>[a-z_0-9]+)(?P<op><=|>=|<|>)(?P<limit>[+-]?\d+(?:\.\d+)?)(?P<percent>%?)$")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


WORDS = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}


class RuleInvalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    text: str
    measure: str
    op: str
    limit: float
    relative: bool
    """Against the baseline: a difference, or with `percent` a percentage of the baseline's value."""
    percent: bool

    def limit_for(self, baseline: float | None) -> float | None:
        if not self.relative:
            return self.limit
        if baseline is None:
            return None
        return baseline * (1 + self.limit / 100) if self.percent else baseline + self.limit


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str
    version: str
    value: float | None
    limit: float | None
    failed: bool
    said: str
    """The verdict in a sentence, for the terminal and the reports."""


def parse_rules(text: str | None, *, baseline: str | None, judged: bool) -> list[Rule]:
    rules = []
    for raw in (text or "").split(","):
        spec = "".join(raw.split())
        if not spec:
            continue
        match = RULE.match(spec)
        if match is None:
            raise RuleInvalid(f"{raw.strip()!r} is not a rule like `first_attempt_valid<0.95` or `reasks>+10%`")
        measure = match["measure"]
        if measure not in BY_NAME:
            raise RuleInvalid(f"{raw.strip()!r}: no measure {measure!r}; measures: {', '.join(BY_NAME)}")
        if BY_NAME[measure].judge and not judged:
            raise RuleInvalid(f"{raw.strip()!r}: {measure} needs --judge")
        relative = match["limit"][0] in "+-"
        if (relative or match["percent"]) and baseline is None:
            raise RuleInvalid(f"{raw.strip()!r} is relative to the baseline: name one with --baseline VERSION")
        if match["percent"] and not relative:
            raise RuleInvalid(f"{raw.strip()!r}: a percentage is relative to the baseline; write it signed (+10%)")
        rules.append(Rule(spec, measure, match["op"], float(match["limit"]), relative, bool(match["percent"])))
    return rules


def evaluate(rules: list[Rule], figures: dict[str, Figures], baseline: str | None) -> list[Verdict]:
    verdicts = []
    base = figures.get(baseline, {}) if baseline else {}
    for rule in rules:
        measure = BY_NAME[rule.measure]
        for version, values in figures.items():
            if version == baseline:
                continue
            value, limit = values.get(rule.measure), rule.limit_for(base.get(rule.measure))
            if value is None or limit is None:
                said = f"{version} not evaluated on {rule.text}: {measure.label.lower()} is n/a"
                verdicts.append(Verdict(rule.text, version, value, limit, False, said))
                continue
            failed = OPERATORS[rule.op](value, limit)
            said = (
                f"{version} {'FAILED' if failed else 'passed'} {rule.text}: {measure.label.lower()} "
                f"{format_value(measure, value)}; fails {WORDS[rule.op]} {format_value(measure, limit)}"
            )
            if rule.relative:
                said += f" (baseline {baseline}: {format_value(measure, base.get(rule.measure))})"
            verdicts.append(Verdict(rule.text, version, value, limit, failed, said))
    return verdicts
