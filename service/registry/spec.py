"""The shape of registry files: `<persona>/persona.yaml` and `<persona>/<version>.yaml`.

Strict on purpose: an unknown key is an error naming the file and line, never ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

BCP47 = r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$"
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?$"
)
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
LABEL = r"^[a-z][a-z0-9-]*$"

Text = Annotated[str, msgspec.Meta(min_length=1)]
Version = Annotated[str, msgspec.Meta(pattern=SEMVER)]


class Deprecation(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    version: Version
    since: dt.date
    sunset: dt.date
    successor: Version | None = None
    note: str | None = None


class Rollout(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`rollouts: {stable: {version: 1.1.0, percent: 10}}`: a share of a label's callers served another version."""

    version: Version
    percent: Annotated[float, msgspec.Meta(ge=0, le=100, description="Share of the label's callers, 0–100.")]


Role = Literal["desk", "judge"]


class PersonaSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`persona.yaml`: who the persona is and which versions its labels point at."""

    callsign: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}-\d{2}$")]
    name: Text
    organization: Text
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]
    country_name: Text
    language: Annotated[str, msgspec.Meta(pattern=BCP47, description="BCP 47 tag of the literary echo")]
    description: Text
    labels: dict[Annotated[str, msgspec.Meta(pattern=LABEL)], Version]
    rollouts: dict[Annotated[str, msgspec.Meta(pattern=LABEL)], Rollout] = msgspec.field(default_factory=dict)
    deprecations: list[Deprecation] = msgspec.field(default_factory=list)
    role: Role = "desk"
    """`desk` answers `/assess`; `judge` scores desks' assessments in `attache eval --judge`."""


class ModelDefaults(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Text
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)]
    max_output_tokens: Annotated[int, msgspec.Meta(ge=256, le=65536)]


class OutputRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    schema: Text
    version: Annotated[int, msgspec.Meta(ge=1)]

    def __str__(self) -> str:
        return f"{self.schema} v{self.version}"


class Variable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(pattern=IDENTIFIER)]
    description: Text
    required: bool = False
    default: str | None = None
    example: str | None = None


class VersionSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`<version>.yaml`: one published, immutable prompt version."""

    changelog: Text
    model: ModelDefaults
    output: OutputRef
    variables: list[Variable]
    system: Text
    user: Text
