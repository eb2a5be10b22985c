"""An agent reference as a caller writes it, parsed once: `jp-01`, `jp-01@1.0.0` or `jp-01@stable`."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class AgentReference:
    """A persona id and, optionally, a version or label (None: the `stable` label)."""

    agent: str
    ref: str | None = None

    @classmethod
    def parse(cls, agent: str, version: str | None = None) -> AgentReference:
        """`agent` as `id[@version|label]`, with an optional separate `version` that must agree (400 otherwise)."""
        agent_id, at, suffix = agent.partition("@")
        if at and not suffix:
            raise InvalidRequest(f"agent {agent!r} has an empty version after '@'")
        if at and version and version != suffix:
            raise InvalidRequest(
                f"agent {agent!r} pins {suffix!r} but `version` asks for {version!r}; send one of them"
            )
        return cls(agent_id, suffix or version)

    def __str__(self) -> str:
        return f"{self.agent}@{self.ref}" if self.ref else self.agent
