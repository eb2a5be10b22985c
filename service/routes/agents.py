"""`/agents`: the persona roster, one persona, and one published prompt version."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED

from service.access.guard import caller_of, require_api_key
from service.access.rate_limit import rate_limit
from service.http.openapi import KEY_REQUIRED, AgentIdParam, VersionRefParam, problem_responses
from service.registry import Persona, PromptVersion, Registry
from service.registry.rollout import RolloutChoice
from service.registry.spec import Deprecation, Role

# Published versions never change; a label can move, so it is cached briefly.
IMMUTABLE = "public, max-age=31536000, immutable"
LABEL_CACHE = "public, max-age=60"
ROLLOUT_CACHE = "private, max-age=60"


class VersionSummary(msgspec.Struct, frozen=True):
    version: str
    sha256: str
    model: str
    output_schema: str
    changelog: str
    deprecated: bool


class RolloutView(msgspec.Struct, frozen=True):
    version: Annotated[str, msgspec.Meta(description="The version the label is rolling out to.")]
    percent: Annotated[float, msgspec.Meta(description="The share of the label's callers served it, 0–100.")]


class AgentSummary(msgspec.Struct, frozen=True):
    id: str
    callsign: str
    name: str
    organization: str
    country: str
    country_name: str
    language: str
    description: str
    labels: dict[str, str]
    rollouts: Annotated[
        dict[str, RolloutView],
        msgspec.Meta(description="Labels rolling out to another version: label → the version and its share."),
    ]
    versions: list[str]
    deprecations: list[Deprecation]
    role: Annotated[
        Role,
        msgspec.Meta(description="`desk` answers /assess; `judge` scores assessments in `attache eval --judge`."),
    ]


class AgentList(msgspec.Struct, frozen=True):
    agents: list[AgentSummary]


class AgentDetail(AgentSummary, frozen=True):
    version_details: list[VersionSummary]


class ModelDefaultsView(msgspec.Struct, frozen=True):
    name: str
    temperature: float
    max_output_tokens: int


class OutputSchemaRef(msgspec.Struct, frozen=True):
    name: str
    version: int
    url: str


class VariableView(msgspec.Struct, frozen=True):
    name: str
    description: str
    required: bool
    default: str | None


class TemplateSource(msgspec.Struct, frozen=True):
    system: str
    user: str


class VersionDetail(msgspec.Struct, frozen=True):
    agent: str
    version: str
    label: str | None
    sha256: str
    changelog: str
    model: ModelDefaultsView
    output_schema: OutputSchemaRef
    variables: list[VariableView]
    templates: TemplateSource
    deprecation: Deprecation | None
    rollout: Annotated[
        RolloutChoice | None,
        msgspec.Meta(
            description="For a label that is rolling out: what the roll-out chose for this caller (the version above "
            "is the one /assess would serve it)."
        ),
    ] = None


def _summary_fields(persona: Persona) -> dict[str, Any]:
    return {
        **persona.template_fields,
        "description": persona.spec.description.strip(),
        "labels": dict(persona.spec.labels),
        "rollouts": {label: RolloutView(r.version, r.percent) for label, r in persona.spec.rollouts.items()},
        "versions": list(persona.versions),
        "deprecations": list(persona.spec.deprecations),
        "role": persona.spec.role,
    }


def _version_summary(persona: Persona, prompt: PromptVersion) -> VersionSummary:
    return VersionSummary(
        version=prompt.version,
        sha256=prompt.sha256,
        model=prompt.spec.model.name,
        output_schema=str(prompt.spec.output),
        changelog=prompt.spec.changelog,
        deprecated=persona.deprecation(prompt.version) is not None,
    )


class AgentController(Controller):
    path = "/agents"
    tags = ["agents"]
    guards = [require_api_key, rate_limit]

    @get("/", summary="List every persona", operation_id="list_agents", security=KEY_REQUIRED)
    async def list_agents(self, registry: NamedDependency[Registry]) -> AgentList:
        return AgentList(agents=[AgentSummary(**_summary_fields(p)) for p in registry.personas.values()])

    @get(
        "/{agent_id:str}",
        summary="One persona with its versions",
        operation_id="get_agent",
        security=KEY_REQUIRED,
        responses=problem_responses(404),
    )
    async def get_agent(self, registry: NamedDependency[Registry], agent_id: AgentIdParam) -> AgentDetail:
        persona = registry.persona(agent_id)
        return AgentDetail(
            **_summary_fields(persona),
            version_details=[_version_summary(persona, p) for p in persona.versions.values()],
        )

    @get(
        "/{agent_id:str}/versions/{ref:str}",
        summary="One published prompt version (by version or label)",
        operation_id="get_version",
        security=KEY_REQUIRED,
        description="Published versions are immutable: the response for a version is cacheable forever; "
        "for a label, briefly. The `ETag` is the sha256 of the version file.",
        responses=problem_responses(404),
    )
    async def get_version(
        self,
        request: Request[Any, Any, Any],
        registry: NamedDependency[Registry],
        agent_id: AgentIdParam,
        ref: VersionRefParam,
    ) -> Response[VersionDetail]:
        persona = registry.persona(agent_id)
        resolution = persona.resolve_for_caller(ref, caller_of(request).name)
        prompt, label = resolution.prompt, resolution.label
        headers = {
            "ETag": f'"{prompt.sha256}"',
            # A roll-out answers each caller for itself: no shared cache may keep one caller's arm for another.
            "Cache-Control": (ROLLOUT_CACHE if resolution.rollout else LABEL_CACHE) if label else IMMUTABLE,
        }
        if f'"{prompt.sha256}"' in request.headers.get("if-none-match", ""):
            return Response(content=None, status_code=HTTP_304_NOT_MODIFIED, headers=headers)  # type: ignore[arg-type]
        spec = prompt.spec
        body = VersionDetail(
            agent=persona.id,
            version=prompt.version,
            label=label,
            sha256=prompt.sha256,
            changelog=spec.changelog,
            model=ModelDefaultsView(spec.model.name, spec.model.temperature, spec.model.max_output_tokens),
            output_schema=OutputSchemaRef(
                spec.output.schema,
                spec.output.version,
                f"/schemas/{spec.output.schema}/v{spec.output.version}",
            ),
            variables=[VariableView(v.name, v.description, v.required, v.default) for v in spec.variables],
            templates=TemplateSource(system=spec.system, user=spec.user),
            deprecation=persona.deprecation(prompt.version),
            rollout=resolution.rollout,
        )
        return Response(content=body, status_code=HTTP_200_OK, headers=headers)
