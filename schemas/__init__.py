"""Typed output schemas, keyed by (name, major version) as registry files reference them."""

from pydantic import BaseModel

from schemas.assessment import Assessment

SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {("assessment", 1): Assessment}

__all__ = ["SCHEMAS", "Assessment"]
