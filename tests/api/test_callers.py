"""Request logs name the caller by the HMAC of its key, never by the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from service.access.callers import CallerNames, caller_secret
from service.app import create_app
from service.settings import Settings
from tests.unit.access.test_callers import KEY


async def test_logs_name_the_caller_by_hmac(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(cache_dir="off", data_dir=str(tmp_path), api_keys=KEY)
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.get("/agents", headers={"Authorization": f"Bearer {KEY}"})).status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    request = next(line for line in lines if line.get("event") == "request" and line["path"] == "/agents")
    assert request["caller"] == CallerNames(caller_secret(settings)).of_key(KEY)
    assert KEY not in json.dumps(lines)
