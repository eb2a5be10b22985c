"""`Accept: text/markdown`: the assessment in the layout of the JP-01 sample.

Title, opening judgement, numbered icon-headed layers with their points, the forward
outlook, the closing, the literary echo, then the signature — taken from the registry,
never from the model.

The model's text is not trusted (a news item can talk it into writing anything), so every
value the template prints is escaped: a link, image, autolink or HTML tag it wrote is shown
as the text it is, never rendered, by CommonMark or GitHub-flavoured renderers alike.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from litestar import Response

from schemas import Assessment
from service.registry import Persona, Registry

TEMPLATES = Path(__file__).resolve().parent / "templates"
MARKDOWN = "text/markdown"


@cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - Markdown for API callers, not HTML: escaped by `finalize`
        finalize=escape_markdown,
    )
    return environment.get_template("assessment.md.j2")


# Backslash-escaped wherever they appear: the characters that open links and images (`[`,
# `]`), raw HTML and autolinks (`<`, `>`), entities (`&`), code, emphasis and tables, and `\`
# itself. GitHub's extended autolinks are broken apart: `://`, `www.` and `@` (e-mail).
_MARKUP = re.compile(r"[\\`*_\[\]<>&|~@]|:(?=//)|(?<=www)\.", re.IGNORECASE)


def escape_markdown(value: object) -> str:
    """`value` as Markdown that renders back to exactly its text."""
    return _MARKUP.sub(lambda match: "\\" + match.group(0), str(value))


def flag(country: str) -> str:
    """ISO 3166 alpha-2 (and EU) → the flag emoji made of regional indicator symbols."""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in country.upper())


def render_markdown(assessment: Assessment, persona: Persona) -> str:
    spec = persona.spec
    return _render(assessment, flag(spec.country), spec.callsign, spec.name, spec.organization)


def _render(assessment: Assessment, flag: str, callsign: str, name: str, organization: str) -> str:
    return _template().render(a=assessment, flag=flag, callsign=callsign, name=name, organization=organization)


def markdown_response(envelope_json: bytes, registry: Registry, headers: dict[str, str]) -> Response[str]:
    """A kept envelope as Markdown, signed from the registry (from the envelope for a persona since removed)."""
    envelope = msgspec.json.decode(envelope_json)
    assessment = Assessment.model_validate(envelope["assessment"])
    agent = envelope["agent"]
    persona = registry.personas.get(agent["id"])
    if persona is not None:
        text = render_markdown(assessment, persona)
    else:
        text = _render(assessment, "", agent["callsign"], agent["name"], agent["organization"])
    return Response(text, media_type=f"{MARKDOWN}; charset=utf-8", headers=headers)
