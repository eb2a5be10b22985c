"""The OpenAPI document and its interactive page, served without any CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Example, Schema
from litestar.params import PathParameter
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.typing import FieldDefinition

from service import __version__
from service.errors import problem_codes
from service.http.contract import BEARER_SCHEME, finish_contract

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs-assets"
# Swagger UI from the npm package swagger-ui-dist (Apache-2.0), vendored so the page
# renders on machines with no internet access; `make swagger-ui` refreshes it.
ASSETS_DIR = Path(__file__).resolve().parent / "static" / "swagger-ui"


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Say `additionalProperties: false` for msgspec Structs that reject unknown fields.

    Litestar's own plugin leaves it out, so clients and fuzzers would think extra fields
    are welcome when the server answers them with 400.
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


class ContractJsonRenderPlugin(JsonRenderPlugin):
    """`/docs/openapi.json`: Litestar's document completed by `service.http.contract`, made once."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json")
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = msgspec.json.encode(finish_contract(openapi_schema), enc_hook=_encode_example)
        return self._rendered


def _encode_example(value: object) -> object:
    # Examples Litestar generates can be Structs or dataclasses; the document wants plain JSON.
    return msgspec.to_builtins(value)


def openapi_config() -> OpenAPIConfig:
    # The title is ASCII on purpose: client generators derive package names from it
    # (openapi-python-client made `attach_é_client` of "Attaché", which pip refuses). People
    # read the product's name in the description and on the docs page.
    return OpenAPIConfig(
        title="Attache",
        version=__version__,
        description="**Attaché** — analyst personas answer news items as typed JSON, from a versioned prompt "
        "registry. Every error is RFC 9457 problem details with a stable `code`.",
        path=DOCS_PATH,
        render_plugins=[
            ContractJsonRenderPlugin(),
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
            ),
        ],
    )


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        include_in_schema=False,
        cache_control=None,
        name="docs-assets",
    )


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 9457 problem details, as every error response carries them."""

    type: str
    title: str
    status: int
    detail: str
    code: Annotated[str, msgspec.Meta(description="Stable; branch on it. One of: " + ", ".join(problem_codes()))]
    errors: list[dict[str, Any]] | None = None


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem-details errors a route can return."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description="Problem details (RFC 9457); branch on `code`.",
        )
        for status in statuses
    }


KEY_REQUIRED: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]  # an operation that needs an API key


def path_parameter(description: str, example: str) -> PathParameter:
    return PathParameter(description=description, examples=[Example(value=example)])


AgentIdParam = Annotated[str, path_parameter("A persona's id, e.g. `jp-01`.", "jp-01")]
VersionRefParam = Annotated[str, path_parameter("A published version (`1.0.0`) or a label (`stable`).", "stable")]
SchemaNameParam = Annotated[str, path_parameter("An output schema's name.", "assessment")]
SchemaMajorParam = Annotated[str, path_parameter("`v` and the schema's major version.", "v1")]
