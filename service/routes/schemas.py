"""`/schemas/{name}/v{major}`: the published JSON Schema of each output schema."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from schemas.export import json_schema
from service.errors import UnknownSchema
from service.http.openapi import SchemaMajorParam, SchemaNameParam, problem_responses


@get(
    "/schemas/{name:str}/{major:str}",
    tags=["schemas"],
    summary="JSON Schema of an output schema, for validating responses in any language",
    operation_id="get_schema",
    description="`major` is the schema's major version prefixed with `v`, e.g. `/schemas/assessment/v1`.",
    media_type="application/schema+json",
    responses=problem_responses(404),
)
async def get_schema(name: SchemaNameParam, major: SchemaMajorParam) -> Response[dict[str, Any]]:
    number = major.removeprefix("v")
    try:
        document = json_schema(name, int(number))
    except (KeyError, ValueError):
        raise UnknownSchema(f"no output schema {name} {major}; try /schemas/assessment/v1") from None
    return Response(document, headers={"Cache-Control": "public, max-age=3600"})
