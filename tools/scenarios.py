"""The provider exchanges kept as cassettes: what the caller sends and what the provider answers.

`python -m tools.author_cassettes` runs each scenario through the real app against the
stand-in provider and writes what crossed the wire to `cassettes/<name>.yaml`. The tests
replay the same requests against those cassettes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.news import (
    AU01_REQUEST,
    CN01_REQUEST,
    JP01_SAMPLE_REQUEST,
    KR01_REQUEST,
    US_JAPAN_MINERALS,
    request,
)
from tools.standin import Reply

ASSESSMENTS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "assessments"
CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"


def assessment(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ASSESSMENTS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def _nine_forecasts() -> dict[str, Any]:
    """JP-01's answer with the outlook padded to nine items: schema-invalid, as models sometimes are."""
    answer = copy.deepcopy(assessment("jp-01-us-japan-critical-minerals"))
    answer["outlook"] = (answer["outlook"] * 3)[:9]
    return answer


def _truncated() -> str:
    text = json.dumps(assessment("kr-01-chip-equipment-waivers"), ensure_ascii=False)
    return text[: len(text) // 2]


@dataclass(frozen=True)
class Scenario:
    name: str
    body: dict[str, Any]
    replies: Callable[[], list[Reply]]
    live: bool = False
    """Re-recordable against a real provider (the faults cannot be provoked on demand)."""

    @property
    def cassette(self) -> Path:
        return CASSETTES / f"{self.name}.yaml"


def _news(name: str, body: dict[str, Any], usage: tuple[int, int]) -> Scenario:
    """A desk answering a news item at once with its authored assessment `name`; re-recordable live."""
    return Scenario(name, body, lambda: [Reply.completion(assessment(name), usage=usage)], live=True)


SCENARIOS = [
    _news("jp-01-us-japan-critical-minerals", JP01_SAMPLE_REQUEST, (1893, 1688)),
    _news("cn-01-rare-earth-export-controls", CN01_REQUEST, (1942, 1507)),
    _news("kr-01-chip-equipment-waivers", KR01_REQUEST, (1876, 1455)),
    _news("au-01-us-critical-minerals-framework", AU01_REQUEST, (1911, 1398)),
    Scenario(
        "reask-recovers",
        request("jp-01@canary", US_JAPAN_MINERALS, source="CSPAN", as_of="2025-10-28"),
        lambda: [
            Reply.completion(_nine_forecasts(), usage=(1950, 2210), call_id="call_attache_1"),
            Reply.completion(
                assessment("jp-01-us-japan-critical-minerals"), usage=(4305, 1688), call_id="call_attache_2"
            ),
        ],
    ),
    Scenario(
        "output-truncated",
        KR01_REQUEST,
        lambda: [Reply.completion(_truncated(), finish_reason="length", usage=(1876, 4096))],
    ),
    Scenario(
        "model-refused",
        CN01_REQUEST,
        lambda: [
            Reply.completion(
                None,
                finish_reason="stop",
                refusal="I'm sorry, but I can't help with that request.",
                usage=(1942, 11),
            )
        ],
    ),
    Scenario(
        "rate-limited-then-ok",
        AU01_REQUEST,
        lambda: [
            Reply.error(
                429,
                "Rate limit reached for gpt-4o-2024-08-06 on requests per min (RPM): Limit 500, Used 500.",
                "requests",
                "rate_limit_exceeded",
                headers={"retry-after-ms": "20", "retry-after": "1", "x-ratelimit-remaining-requests": "0"},
            ),
            Reply.completion(assessment("au-01-us-critical-minerals-framework"), usage=(1911, 1398)),
        ],
    ),
]

BY_NAME = {s.name: s for s in SCENARIOS}
