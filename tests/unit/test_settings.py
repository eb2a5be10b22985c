"""Settings come from the environment in one place; docs/configuration.md documents every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import DEFAULT_REGISTRY_DIR, Settings, SettingsError, settings_table

CONFIGURATION = Path(__file__).resolve().parent.parent.parent / "docs" / "configuration.md"


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.registry_path == DEFAULT_REGISTRY_DIR
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8000, "info")


def test_environment_values_are_parsed_and_empty_counts_as_unset() -> None:
    settings = Settings.from_env({"ATTACHE_PORT": "9001", "ATTACHE_HOST": "", "ATTACHE_LOG_LEVEL": "debug"})
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 9001, "debug")


def test_an_explicit_argument_beats_the_environment() -> None:
    assert Settings.from_env({"ATTACHE_PORT": "9001"}, port=9002).port == 9002


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ATTACHE_PORT", "eighty"), ("ATTACHE_PORT", "70000"), ("ATTACHE_LOG_LEVEL", "chatty")],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        Settings.from_env({variable: value})


def test_the_cache_can_be_switched_off() -> None:
    assert Settings.from_env({"ATTACHE_CACHE_DIR": "off"}).cache_path is None


def test_the_readme_documents_every_setting() -> None:
    readme = CONFIGURATION.read_text(encoding="utf-8")
    for variable, _default, description in settings_table():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{variable}`")), None)
        assert row is not None, f"docs/configuration.md has no row for {variable}"
        assert description in row, f"docs/configuration.md row for {variable} is out of date; run `attache settings`"
