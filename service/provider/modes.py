"""ATTACHE_LLM_MODE: how the response model reaches the provider, and what the request carries.

The constrained modes send the schema dialect with every limit the validators check
(`schemas.dialects`), so a server that decodes under it cannot produce an answer they reject.
"""

from __future__ import annotations

from typing import Any

import instructor

# ATTACHE_LLM_MODE → instructor's mode. instructor 1.17 deprecates Mode.TOOLS_STRICT and
# sends it as plain TOOLS, without `strict`; `tools_strict` is TOOLS with the flag set by us.
# instructor has no mode for `json_object` with a schema (llama-cpp-python's server, which
# grammar-constrains decoding with it): it is JSON mode, with the schema added by us.
MODES: dict[str, instructor.Mode] = {
    "tools": instructor.Mode.TOOLS,
    "tools_strict": instructor.Mode.TOOLS,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "json_object_schema": instructor.Mode.JSON_SCHEMA,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
}
# The modes whose server decodes under the schema: they get every limit the validators check.
CONSTRAINED_MODES = frozenset({"json_schema", "json_object_schema"})


def constrained_format(mode: str, request: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """instructor's `response_format`, carrying the constrained schema dialect instead of the published one."""
    if mode == "json_object_schema":  # llama-cpp-python's server: `schema` beside `type`
        return {"type": "json_object", "schema": schema}
    sent = request["response_format"]  # a copy: instructor's may be reused
    return {**sent, "json_schema": {**sent["json_schema"], "schema": schema}}
