"""Typed output schemas, keyed by (name, major version) as registry files reference them."""

from pydantic import BaseModel

from schemas.assessment import Assessment
from schemas.rubric import Rubric

SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {("assessment", 1): Assessment, ("rubric", 1): Rubric}

__all__ = ["SCHEMAS", "Assessment", "Rubric"]
