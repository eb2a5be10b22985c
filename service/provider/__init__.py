"""The wall between an assessment and the model provider.

An assessment hands a `Completer` one `ModelRequest` and gets one validated answer back, or
the `AttacheError` that explains why there is none. `client.ModelProvider` is the one
implementation: instructor over the openai SDK, imported only when a provider is configured
(the SDK costs ~1.5 s of imports, so this module imports none of it). Beside it: what each
call was (`calls`), what a failure means (`errors`, `faults`), transport retries (`retry`),
how the schema is sent (`modes`) and whether a re-ask fits the context window
(`context_window`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from service.provider.calls import ModelAnswer
    from service.registry import Persona, PromptVersion, RenderedPrompt


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One question for the model: the rendered prompt, its parameters and its typed answer."""

    response_model: type[BaseModel]
    model: str
    system: str
    user: str
    temperature: float
    max_tokens: int
    agent: str
    """Registry-known, like `version`: both label the token counts of every call."""
    version: str

    @classmethod
    def of(
        cls, persona: Persona, prompt: PromptVersion, rendered: RenderedPrompt, response_model: type[BaseModel]
    ) -> ModelRequest:
        """The request a published prompt version makes, with its model defaults."""
        spec = prompt.spec
        return cls(
            response_model=response_model,
            model=spec.model.name,
            system=rendered.system,
            user=rendered.user,
            temperature=spec.model.temperature,
            max_tokens=spec.model.max_output_tokens,
            agent=persona.id,
            version=prompt.version,
        )


class Completer(Protocol):
    """What an assessment needs from a provider (`client.ModelProvider`, or a test's fake)."""

    async def complete(self, request: ModelRequest) -> ModelAnswer: ...
