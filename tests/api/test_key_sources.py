"""A bad key source stops the app being built, as it stops `attache serve`."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.settings import Settings, SettingsError


@pytest.mark.parametrize("bad", [Settings(api_keys="ck-too-short"), Settings(api_keys_file="/nonexistent/keys")])
def test_create_app_refuses_a_bad_key_source_too(bad: Settings) -> None:
    with pytest.raises(SettingsError):
        create_app(bad)
