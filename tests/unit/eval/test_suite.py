"""Eval suites: every desk has one; a malformed suite is named with file and line, by eval and registry check."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.eval.suite import SuiteInvalid, load_suites
from service.registry import RegistryInvalid, load_registry
from service.registry.load import EVALS_DIR
from service.settings import DEFAULT_REGISTRY_DIR
from tests.unit.registry.test_load import line_of

DESKS = [p.id for p in load_registry(DEFAULT_REGISTRY_DIR).personas.values() if p.spec.role == "desk"]
GOOD = """\
description: A small suite.
items:
  - id: first
    context: Japan and the U.S. signed a critical-minerals framework.
    source: CSPAN
    as_of: 2025-10-28
    expect:
      must_mention: [rare earth]
  - id: second
    context: The Bank of Japan raised its policy rate to 0.5%.
"""


def problems(path: Path) -> list[str]:
    with pytest.raises(SuiteInvalid) as caught:
        load_suites(path)
    return [str(p) for p in caught.value.problems]


def test_every_desk_has_a_suite_of_at_least_five_items() -> None:
    assert len(DESKS) == 7
    for desk in DESKS:
        suites = load_suites(DEFAULT_REGISTRY_DIR / desk / EVALS_DIR)
        items = [item for suite in suites for item in suite.items]
        assert len(items) >= 5, desk
        assert all(item.expect.must_mention for item in items), f"{desk}: every item says what a good answer names"
        assert len({item.context for item in items}) == len(items)


def test_a_suite_loads_with_its_fields_and_origin(tmp_path: Path) -> None:
    path = tmp_path / "smoke.yaml"
    path.write_text(GOOD)
    [suite] = load_suites(path)
    first, second = suite.items
    assert (suite.name, first.key, first.source, str(first.as_of)) == ("smoke", "smoke/first", "CSPAN", "2025-10-28")
    assert first.expect.must_mention == ["rare earth"]
    assert second.origin == f"{path}:{line_of(path, 'id: second')}"


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (("    source: CSPAN\n", "    source: CSPAN\n    sauce: CSPAN\n"), 6, "unknown key `sauce` in `items[0]`"),
        (("id: second", "id: first"), 9, "item id 'first' is used twice"),
        (("as_of: 2025-10-28", "as_of: yesterday"), 6, "`items[0].as_of`: Invalid RFC3339 encoded date"),
        (
            ("must_mention: [rare earth]", "must_mention: rare earth"),
            8,
            "`items[0].expect.must_mention`: Expected `array`",
        ),
        (("  - id: second\n", "  - id: Second Item\n"), 9, "`items[1].id`: Expected `str` matching"),
        (
            ("    context: The Bank of Japan raised its policy rate to 0.5%.\n", ""),
            9,
            "missing required field `context`",
        ),
    ],
)
def test_a_malformed_suite_names_file_and_line(tmp_path: Path, edit: tuple[str, str], line: int, message: str) -> None:
    path = tmp_path / "broken.yaml"
    text = GOOD.replace(*edit)
    assert text != GOOD
    path.write_text(text)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:{line}:"), problem
    assert message in problem


def test_invalid_yaml_and_an_empty_folder_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("description: x\nitems: [\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:")
    assert "not valid YAML" in problem
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no suite files" in problems(empty)[0]
    assert "no such suite" in problems(tmp_path / "missing.yaml")[0]


def test_the_registry_accepts_an_evals_folder_but_nothing_else(registry_dir: Path) -> None:
    load_registry(registry_dir)
    (registry_dir / "jp-01" / "notes").mkdir()
    with pytest.raises(
        RegistryInvalid, match=r"jp-01/notes: expected only persona.yaml, <semver>.yaml files and an evals/"
    ):
        load_registry(registry_dir)
