"""Prompt templates: Jinja2 in its immutable sandbox, strict about every variable.

A template may use its version's declared variables and `persona` (the registry's persona
fields); anything else is an error when the registry loads, and a missing required
variable is an error when it renders — never an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from service.registry.quarantine import neutralise

BUILTIN_NAMES = frozenset({"persona"})


def untrusted(value: object, tag: str) -> str:
    """Caller text bound for a `<tag>` block, defused (`service.registry.quarantine`).

    Caller variables are neutralised before any template sees them; this filter, which
    published versions apply to the news item, does the same to whatever it is given, so
    it holds on its own too. (It once stripped `<tag>`-like text in one pass, which a tag
    split around another tag survived.) `tag` stays for the published templates' sake.
    """
    del tag
    return neutralise(str(value))


ENVIRONMENT = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.filters["untrusted"] = untrusted


class TemplateProblem(ValueError):
    """A template that cannot be used; `lineno` is relative to the template's first line."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


@dataclass(frozen=True, slots=True)
class CheckedTemplate:
    """A template's source, known to parse, and the free names it uses."""

    source: str
    names: frozenset[str]

    def load(self) -> Template:
        """Compile (about 2 ms): done on first render, from the version file's own text."""
        return ENVIRONMENT.from_string(self.source)


def check_template(source: str) -> CheckedTemplate:
    """Parse `source`; a syntax error is a TemplateProblem with its line."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
    return CheckedTemplate(source=source, names=_free_names(tree))


def _free_names(tree: nodes.Template) -> frozenset[str]:
    # A plain tree walk: jinja2.meta.find_undeclared_variables runs a whole second code
    # generation. A name set anywhere in the template counts as local; a use before its
    # `set` still fails the render check with sample inputs (StrictUndefined).
    loaded: set[str] = set()
    stored: set[str] = set()
    for name in tree.find_all(nodes.Name):
        (loaded if name.ctx == "load" else stored).add(name.name)
    return frozenset(loaded - stored)


def check_names(template: CheckedTemplate, declared: frozenset[str]) -> None:
    undeclared = sorted(template.names - declared - BUILTIN_NAMES)
    if undeclared:
        raise TemplateProblem(
            f"template uses undeclared variable(s) {', '.join(undeclared)}; "
            f"declare them under `variables` or use one of: {', '.join(sorted(declared | BUILTIN_NAMES))}"
        )


def render(template: Template, values: Mapping[str, Any]) -> str:
    try:
        return template.render(values)
    except Exception as exc:  # any render failure is a template problem, whatever Jinja raised
        raise TemplateProblem(f"template failed to render: {exc}") from None
