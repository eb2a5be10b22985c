"""The registry loader: the real registry is valid; each kind of breakage names file and line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.errors import InvalidRequest, UnknownAgent, UnknownVersion
from service.registry import RegistryInvalid, load_registry
from service.registry.lock import LOCK_NAME, read_lock
from service.registry.reference import AgentReference
from service.settings import DEFAULT_REGISTRY_DIR


def problems_of(root: Path) -> list[str]:
    with pytest.raises(RegistryInvalid) as caught:
        load_registry(root)
    return [str(p) for p in caught.value.problems]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def relock(root: Path, rel: str) -> None:
    """Rewrite one lock entry, as if the edited file had been published that way."""
    lock = root / LOCK_NAME
    digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    lines = [f"{digest}  {rel}" if line.endswith(f"  {rel}") else line for line in lock.read_text().splitlines()]
    if not any(line.endswith(f"  {rel}") for line in lines):
        lines.append(f"{digest}  {rel}")
    lock.write_text("\n".join(lines) + "\n")


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_the_repository_registry_is_valid_with_jp01_and_five_more_desks() -> None:
    registry = load_registry(DEFAULT_REGISTRY_DIR)
    assert len(registry.personas) >= 6
    jp = registry.personas["jp-01"]
    assert (jp.spec.callsign, jp.spec.name, jp.spec.organization, jp.spec.language) == (
        "JP-01",
        "Japan Agent",
        "Three Corporate",
        "ja",
    )
    assert dict(jp.spec.labels) == {"stable": "1.0.0", "canary": "1.1.0"}
    languages = {p.spec.language.split("-")[0] for p in registry.personas.values()}
    assert len(languages) >= 5, "each desk brings its own literary tradition"


def test_every_version_hash_matches_the_lock_and_sha256sum_format() -> None:
    lock = read_lock(DEFAULT_REGISTRY_DIR)
    registry = load_registry(DEFAULT_REGISTRY_DIR)
    for persona in registry.personas.values():
        for prompt in persona.versions.values():
            assert lock.entries[f"{persona.id}/{prompt.version}.yaml"] == prompt.sha256


def test_a_changed_published_file_is_refused(registry_dir: Path) -> None:
    path = registry_dir / "jp-01" / "1.0.0.yaml"
    edit(path, "temperature: 0.4", "temperature: 0.5")
    [problem] = problems_of(registry_dir)
    assert str(path) in problem
    assert "published version 1.0.0 changed" in problem


def test_a_version_missing_from_the_lock_is_refused(registry_dir: Path) -> None:
    source = registry_dir / "jp-01" / "1.1.0.yaml"
    (registry_dir / "jp-01" / "1.2.0.yaml").write_bytes(source.read_bytes())
    [problem] = problems_of(registry_dir)
    assert "jp-01/1.2.0.yaml" in problem
    assert "version 1.2.0 is not in registry.lock" in problem


def test_a_locked_file_that_disappeared_is_refused(registry_dir: Path) -> None:
    (registry_dir / "jp-01" / "1.1.0.yaml").unlink()
    edit(registry_dir / "jp-01" / "persona.yaml", "  canary: 1.1.0\n", "")
    [problem] = problems_of(registry_dir)
    assert "jp-01/1.1.0.yaml is locked but its file is gone" in problem


def test_a_label_pointing_at_a_missing_version_names_file_and_line(registry_dir: Path) -> None:
    persona = registry_dir / "jp-01" / "persona.yaml"
    edit(persona, "canary: 1.1.0", "canary: 1.9.0")
    [problem] = problems_of(registry_dir)
    assert problem.startswith(f"{persona}:{line_of(persona, 'canary: 1.9.0')}:")
    assert "label 'canary' points at version 1.9.0" in problem


def test_an_unknown_key_names_file_line_and_key(registry_dir: Path) -> None:
    path = registry_dir / "jp-01" / "1.0.0.yaml"
    edit(path, "  temperature: 0.4\n", "  temperature: 0.4\n  temprature: 0.2\n")
    relock(registry_dir, "jp-01/1.0.0.yaml")
    [problem] = problems_of(registry_dir)
    assert problem == f"{path}:{line_of(path, 'temprature')}: unknown key `temprature` in `model`"


def test_an_unknown_key_in_a_persona_file_is_refused(registry_dir: Path) -> None:
    path = registry_dir / "us-01" / "persona.yaml"
    edit(path, "country: US\n", "country: US\nflag: stars\n")
    [problem] = problems_of(registry_dir)
    assert problem == f"{path}:{line_of(path, 'flag:')}: unknown key `flag`"


def test_a_wrongly_typed_value_names_its_path(registry_dir: Path) -> None:
    path = registry_dir / "kr-01" / "1.0.0.yaml"
    edit(path, "max_output_tokens: 4096", "max_output_tokens: lots")
    relock(registry_dir, "kr-01/1.0.0.yaml")
    [problem] = problems_of(registry_dir)
    assert f"{path}:{line_of(path, 'max_output_tokens')}:" in problem
    assert "`model.max_output_tokens`: Expected `int`, got `str`" in problem


def test_an_undeclared_template_variable_is_refused(registry_dir: Path) -> None:
    path = registry_dir / "cn-01" / "1.0.0.yaml"
    edit(path, "  {{ question }}\n", "  {{ question }} {{ urgency }}\n")
    relock(registry_dir, "cn-01/1.0.0.yaml")
    [problem] = problems_of(registry_dir)
    assert str(path) in problem
    assert "user: template uses undeclared variable(s) urgency" in problem


def test_a_template_syntax_error_names_the_line_in_the_file(registry_dir: Path) -> None:
    path = registry_dir / "in-01" / "1.0.0.yaml"
    edit(path, "  How IN-01 thinks\n", "  How IN-01 thinks {% if %}\n")
    relock(registry_dir, "in-01/1.0.0.yaml")
    [problem] = problems_of(registry_dir)
    assert problem.startswith(f"{path}:{line_of(path, 'How IN-01 thinks')}: system: template syntax error")


def test_a_template_that_fails_with_sample_inputs_is_refused(registry_dir: Path) -> None:
    path = registry_dir / "au-01" / "1.0.0.yaml"
    edit(path, "  {{ question }}\n", "  {{ question }} {{ source.missing_attribute }}\n")
    relock(registry_dir, "au-01/1.0.0.yaml")
    [problem] = problems_of(registry_dir)
    assert str(path) in problem
    assert "does not render with all sample inputs" in problem
    assert "missing_attribute" in problem


def test_invalid_yaml_names_the_line(registry_dir: Path) -> None:
    path = registry_dir / "eu-01" / "persona.yaml"
    edit(path, "labels:\n", "labels: [\n")
    [problem] = problems_of(registry_dir)
    assert problem.startswith(f"{path}:")
    assert "not valid YAML" in problem


def test_a_file_that_is_not_a_semantic_version_is_refused(registry_dir: Path) -> None:
    (registry_dir / "jp-01" / "latest.yaml").write_text("changelog: x\n")
    [problem] = problems_of(registry_dir)
    assert "jp-01/latest.yaml" in problem
    assert "<semver>.yaml" in problem


def test_every_problem_is_reported_at_once(registry_dir: Path) -> None:
    edit(registry_dir / "jp-01" / "persona.yaml", "canary: 1.1.0", "canary: 2.0.0")
    edit(registry_dir / "us-01" / "1.0.0.yaml", "temperature: 0.4", "temperature: 0.9")
    problems = problems_of(registry_dir)
    assert len(problems) == 2


def test_the_warm_load_cache_gives_the_same_registry_and_still_validates(registry_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = load_registry(registry_dir, cache_dir=cache)
    assert any(cache.iterdir())
    warm = load_registry(registry_dir, cache_dir=cache)
    for pid, persona in cold.personas.items():
        for version, prompt in persona.versions.items():
            assert warm.personas[pid].versions[version].spec == prompt.spec
    # A label broken after caching is still caught: validation runs on every load.
    edit(registry_dir / "jp-01" / "persona.yaml", "canary: 1.1.0", "canary: 3.0.0")
    with pytest.raises(RegistryInvalid, match=r"label 'canary' points at version 3\.0\.0"):
        load_registry(registry_dir, cache_dir=cache)


def test_resolution_by_version_label_and_default() -> None:
    registry = load_registry(DEFAULT_REGISTRY_DIR)
    resolved = registry.resolve(AgentReference.parse("jp-01"))
    assert (resolved.prompt.version, resolved.label) == ("1.0.0", "stable")
    resolved = registry.resolve(AgentReference.parse("jp-01@canary"))
    assert (resolved.prompt.version, resolved.label) == ("1.1.0", "canary")
    resolved = registry.resolve(AgentReference.parse("jp-01", "1.1.0"))
    assert (resolved.prompt.version, resolved.label) == ("1.1.0", None)
    with pytest.raises(InvalidRequest, match="send one of them"):
        AgentReference.parse("jp-01@1.0.0", "canary")
    with pytest.raises(UnknownAgent):
        registry.resolve(AgentReference.parse("zz-99"))
    with pytest.raises(UnknownVersion):
        registry.resolve(AgentReference.parse("jp-01@9.9.9"))


def test_rendering_needs_required_variables_and_rejects_unknown_ones() -> None:
    registry = load_registry(DEFAULT_REGISTRY_DIR)
    resolved = registry.resolve(AgentReference.parse("jp-01"))
    persona, prompt = resolved.persona, resolved.prompt
    rendered = prompt.render(persona, {"context": "A framework was signed.", "source": "CSPAN"})
    assert rendered.system.startswith("You are JP-01, Japan Agent of Three Corporate")
    assert '<news_item source="CSPAN">\nA framework was signed.\n</news_item>' in rendered.user
    assert "What is your most up-to-date and in-depth assessment?" in rendered.user
    with pytest.raises(InvalidRequest, match="requires `context`"):
        prompt.render(persona, {})
    with pytest.raises(InvalidRequest, match="no variable"):
        prompt.render(persona, {"context": "x", "tone": "angry"})
