"""Prompt templates: Jinja2 in its immutable sandbox, strict about every variable.

A template may use its version's declared variables and `persona` (the registry's persona
fields); anything else is an error when the registry loads, and a missing required
variable is an error when it renders — never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

BUILTIN_NAMES = frozenset({"persona"})


def untrusted(value: object, tag: str) -> str:
    """Caller text bound for a `<tag>` block: strip anything that would open or close it early."""
    return re.sub(rf"</?\s*{re.escape(tag)}\b[^>]*>?", "", str(value), flags=re.IGNORECASE)


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
class CompiledTemplate:
    code: CodeType
    names: frozenset[str]

    def load(self) -> Template:
        return ENVIRONMENT.template_class.from_code(ENVIRONMENT, self.code, ENVIRONMENT.make_globals(None))


def compile_template(source: str) -> CompiledTemplate:
    """Parse once; take the names it uses and the compiled code from the same tree."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
    return CompiledTemplate(code=ENVIRONMENT.compile(tree), names=_free_names(tree))


def _free_names(tree: nodes.Template) -> frozenset[str]:
    # A plain tree walk: jinja2.meta.find_undeclared_variables runs a whole second code
    # generation. A name set anywhere in the template counts as local; a use before its
    # `set` still fails the render check with sample inputs (StrictUndefined).
    loaded: set[str] = set()
    stored: set[str] = set()
    for name in tree.find_all(nodes.Name):
        (loaded if name.ctx == "load" else stored).add(name.name)
    return frozenset(loaded - stored)


def check_names(template: CompiledTemplate, declared: frozenset[str]) -> None:
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
