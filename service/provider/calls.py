"""What one assessment's provider calls were: each call, the log of them all, the answer.

The envelope's usage, the metrics and the logs all count from these, so a call is counted
once, the same way everywhere. Model names a provider reports are metric labels only when
expected (`ModelLabels`): a provider cannot create series by naming models.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from service.settings import Settings

# A model name a completion reports is kept only when it is a plain name.
MODEL_NAME = re.compile(r"[A-Za-z0-9._:/@+-]{1,128}")
OTHER_MODEL = "other"


@dataclass(slots=True)
class ProviderCall:
    """One provider HTTP request, as the envelope, logs and metrics count it."""

    seconds: float
    outcome: str
    request_model: str
    response_model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class CallLog:
    """Every provider call of one assessment; `deadline` is on the event loop's clock."""

    deadline: float
    agent: str
    version: str
    schema: dict[str, Any] | None = None
    """The constrained dialect of the response model, in the modes that send it."""
    calls: list[ProviderCall] = field(default_factory=list)
    answered_messages: int = 0
    """How many messages the last answered call sent: what a re-ask adds comes after them."""

    @property
    def attempts(self) -> int:
        return len(self.calls)

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.calls)

    @property
    def reasks(self) -> int:
        """Answers that reached us but were sent back: every `ok` call except the last call made."""
        return sum(1 for call in self.calls[:-1] if call.outcome == "ok")

    @property
    def response_model(self) -> str | None:
        return next((c.response_model for c in reversed(self.calls) if c.response_model), None)


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    output: BaseModel
    model: str
    log: CallLog


def reported_model(name: object) -> str | None:
    """The model name a completion reports, when it is a plain name; None otherwise."""
    return name if isinstance(name, str) and MODEL_NAME.fullmatch(name) else None


class ModelLabels:
    """A reported model is a metric label as it is only when it is expected; else `other`.

    Expected: the registry's models, ATTACHE_LLM_MODEL and ATTACHE_LLM_RESPONSE_MODELS. A
    provider cannot create series by naming models.
    """

    def __init__(self, settings: Settings, known_models: Iterable[str]) -> None:
        extra = (settings.llm_response_models or "").split(",")
        self.allowed = frozenset(name.strip() for name in [*known_models, settings.llm_model or "", *extra]) - {""}

    def of(self, reported: str) -> str:
        return reported if reported in self.allowed else OTHER_MODEL
