"""`Accept: text/markdown`: the assessment in the layout of the JP-01 sample.

Title, opening judgement, numbered icon-headed layers with their points, the forward
outlook, the closing, the literary echo, then the signature — taken from the registry,
never from the model.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from schemas import Assessment
from service.registry import Persona

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - Markdown for API callers, not HTML
    )
    return environment.get_template("assessment.md.j2")


def flag(country: str) -> str:
    """ISO 3166 alpha-2 (and EU) → the flag emoji made of regional indicator symbols."""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in country.upper())


def render_markdown(assessment: Assessment, persona: Persona) -> str:
    spec = persona.spec
    return _template().render(
        a=assessment,
        flag=flag(spec.country),
        callsign=spec.callsign,
        name=spec.name,
        organization=spec.organization,
    )
