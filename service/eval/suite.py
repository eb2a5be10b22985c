"""Eval suites: YAML files beside the persona (`registry/<id>/evals/*.yaml`).

Each item holds the fields of an `/assess` request — `context` (the news excerpt), optional
`question`, `source`, `as_of` — and what the answer is expected to mention or not:

    description: Japan desk, economic security.
    items:
      - id: us-japan-minerals
        context: >-
          President Trump and new Japanese Prime Minister Sanae Takaichi signed a framework ...
        source: CSPAN
        as_of: 2025-10-28
        expect:
          must_mention: [rare earth, JOGMEC]
          must_not_mention: [Kishida]

Strict like the registry: an unknown key, a duplicate id or a missing context is an error
naming the file and the line, and every problem in every file is reported at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec

from service.assessment.request import PLAIN_TEXT
from service.registry.yamlfile import Problem, decode, line_of

SUITE_SUFFIXES = (".yaml", ".yml")
ITEM_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"

Phrase = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Expectations(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    must_mention: list[Phrase] = msgspec.field(default_factory=list)
    """Phrases a good answer names (case-insensitive, anywhere in the assessment)."""
    must_not_mention: list[Phrase] = msgspec.field(default_factory=list)
    """Phrases that must not appear: a wrong figure, a name the item does not support."""


NO_EXPECTATIONS = Expectations()


class ItemSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Annotated[str, msgspec.Meta(pattern=ITEM_ID)]
    context: Annotated[str, msgspec.Meta(min_length=1, pattern=PLAIN_TEXT)]
    question: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=PLAIN_TEXT)] | None = None
    source: Annotated[str, msgspec.Meta(max_length=200, pattern=PLAIN_TEXT)] | None = None
    as_of: dt.date | None = None
    expect: Expectations = msgspec.field(default_factory=Expectations)


class SuiteSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    description: Annotated[str, msgspec.Meta(min_length=1)]
    items: Annotated[list[ItemSpec], msgspec.Meta(min_length=1)]


@dataclass(frozen=True, slots=True)
class Item:
    """One news item to assess, from a suite file or from the store."""

    suite: str
    id: str
    context: str
    question: str | None = None
    source: str | None = None
    as_of: dt.date | None = None
    expect: Expectations = NO_EXPECTATIONS
    origin: str = ""
    """Where it came from: `path:line`, or `store:<assessment id>`."""

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.id}"


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    path: Path
    description: str
    items: list[Item]


class SuiteInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def suite_files(path: Path) -> list[Path]:
    """`path` itself, or the suite files in the folder `path`, in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in SUITE_SUFFIXES and p.is_file())
    return [path]


def load_suites(path: Path) -> list[Suite]:
    """Every suite at `path` (a file or a folder of them); SuiteInvalid lists every problem."""
    problems: list[Problem] = []
    if not path.exists():
        raise SuiteInvalid([Problem(path, None, "no such suite file or folder")])
    files = suite_files(path)
    if not files:
        raise SuiteInvalid([Problem(path, None, f"no suite files ({', '.join(SUITE_SUFFIXES)}) in this folder")])
    suites = [suite for file in files if (suite := _load(file, problems)) is not None]
    names = [s.name for s in suites]
    problems.extend(
        Problem(s.path, None, f"another suite is also named {s.name!r}") for s in suites if names.count(s.name) > 1
    )
    if problems:
        raise SuiteInvalid(problems)
    return suites


def _load(path: Path, problems: list[Problem]) -> Suite | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, None, f"cannot be read ({exc})"))
        return None
    spec = decode(path, text, SuiteSpec, problems)
    if spec is None:
        return None
    seen: set[str] = set()
    items = []
    for index, item in enumerate(spec.items):
        line = line_of(text, f"items[{index}].id")
        if item.id in seen:
            problems.append(Problem(path, line, f"item id {item.id!r} is used twice in this suite"))
            continue
        if not item.context.strip():
            problems.append(Problem(path, line_of(text, f"items[{index}].context"), "`context` is blank"))
            continue
        seen.add(item.id)
        items.append(
            Item(
                suite=path.stem,
                id=item.id,
                context=item.context,
                question=item.question,
                source=item.source,
                as_of=item.as_of,
                expect=item.expect,
                origin=f"{path}:{line}",
            )
        )
    return Suite(name=path.stem, path=path, description=spec.description.strip(), items=items)
