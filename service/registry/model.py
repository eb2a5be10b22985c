"""The loaded registry: personas, their published prompt versions, and label resolution."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import Template

from service.errors import InvalidRequest, UnknownAgent, UnknownVersion
from service.registry.quarantine import neutralise_values
from service.registry.reference import AgentReference
from service.registry.rollout import RolloutChoice, in_rollout
from service.registry.spec import Deprecation, PersonaSpec, Variable, VersionSpec
from service.registry.templates import CheckedTemplate, TemplateProblem, render


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    system: str
    user: str


@dataclass(frozen=True)
class PromptVersion:
    persona_id: str
    version: str
    sha256: str
    path: Path
    spec: VersionSpec
    system_template: CheckedTemplate
    user_template: CheckedTemplate

    @cached_property
    def _templates(self) -> tuple[Template, Template]:
        return self.system_template.load(), self.user_template.load()

    @cached_property
    def variables(self) -> Mapping[str, Variable]:
        return {v.name: v for v in self.spec.variables}

    def render(self, persona: Persona, values: Mapping[str, Any]) -> RenderedPrompt:
        """Render both templates with the caller's `values`, each neutralised first (`quarantine`).

        Raises InvalidRequest for a missing or unknown variable.
        """
        values = neutralise_values(values)
        unknown = sorted(set(values) - set(self.variables))
        if unknown:
            raise InvalidRequest(f"prompt {self.persona_id}@{self.version} has no variable(s) {', '.join(unknown)}")
        context: dict[str, Any] = {"persona": persona.template_fields}
        for name, variable in self.variables.items():
            value = values.get(name)
            if value is None:
                value = variable.default
            if value is None and variable.required:
                raise InvalidRequest(f"prompt {self.persona_id}@{self.version} requires `{name}`")
            context[name] = value
        system, user = self._templates
        return RenderedPrompt(system=render(system, context), user=render(user, context))

    def sample_values(self, *, only_required: bool) -> dict[str, Any]:
        return {
            v.name: v.example or f"<sample {v.name}>" for v in self.spec.variables if v.required or not only_required
        }


@dataclass(frozen=True)
class Persona:
    id: str
    path: Path
    spec: PersonaSpec
    versions: Mapping[str, PromptVersion]
    """Published versions, oldest first (semantic-version order)."""
    file_sha256: str = ""
    """sha256 of `persona.yaml`: labels, roll-outs and deprecations live there."""

    @cached_property
    def template_fields(self) -> dict[str, str]:
        s = self.spec
        return {
            "id": self.id,
            "callsign": s.callsign,
            "name": s.name,
            "organization": s.organization,
            "country": s.country,
            "country_name": s.country_name,
            "language": s.language,
        }

    @cached_property
    def deprecations(self) -> Mapping[str, Deprecation]:
        return {d.version: d for d in self.spec.deprecations}

    def deprecation(self, version: str) -> Deprecation | None:
        return self.deprecations.get(version)

    def resolve(self, ref: str | None) -> tuple[PromptVersion, str | None]:
        """A version or a label (default `stable`) → (version, label used or None)."""
        ref = ref or "stable"
        if ref in self.versions:
            return self.versions[ref], None
        if ref in self.spec.labels:
            return self.versions[self.spec.labels[ref]], ref
        known = ", ".join([*self.versions, *self.spec.labels])
        raise UnknownVersion(f"agent {self.id!r} has no version or label {ref!r}; known: {known}")

    def resolve_for_caller(self, ref: str | None, caller: str | None) -> Resolution:
        """As `resolve`, then a label's roll-out, if any, decides this caller's version (`rollout`)."""
        prompt, label = self.resolve(ref)
        if label is None or caller is None or (rollout := self.spec.rollouts.get(label)) is None:
            return Resolution(self, prompt, label, None)
        chosen = in_rollout(self.id, label, rollout.version, rollout.percent, caller)
        choice = RolloutChoice(rollout.version, rollout.percent, "rollout" if chosen else "label")
        return Resolution(self, self.versions[rollout.version] if chosen else prompt, label, choice)


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a request asked for and what it is served: the version, the label used, the roll-out's choice."""

    persona: Persona
    prompt: PromptVersion
    label: str | None
    rollout: RolloutChoice | None


@dataclass(frozen=True)
class Registry:
    root: Path
    personas: Mapping[str, Persona]
    lock_digest: str

    @cached_property
    def labels_digest(self) -> str:
        """One hash over every `persona.yaml`: changes when a label moves or a roll-out changes
        (the lock digest changes only when a version is published)."""
        lines = "".join(f"{p.file_sha256}  {p.id}/persona.yaml\n" for p in sorted(self.personas.values(), key=_id))
        return hashlib.sha256(lines.encode()).hexdigest()

    @property
    def version_count(self) -> int:
        return sum(len(p.versions) for p in self.personas.values())

    @property
    def model_names(self) -> frozenset[str]:
        """Every model a published version names."""
        return frozenset(v.spec.model.name for p in self.personas.values() for v in p.versions.values())

    def persona(self, agent_id: str) -> Persona:
        try:
            return self.personas[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id!r}; known agents: {', '.join(self.personas)}") from None

    def resolve(self, reference: AgentReference, caller: str | None = None) -> Resolution:
        """The persona and version a reference names; a label's roll-out is applied for `caller`
        (None: the label's own version). 404 for an unknown agent, version or label."""
        return self.persona(reference.agent).resolve_for_caller(reference.ref, caller)


def _id(persona: Persona) -> str:
    return persona.id


__all__ = ["Persona", "PromptVersion", "Registry", "RenderedPrompt", "Resolution", "TemplateProblem"]
