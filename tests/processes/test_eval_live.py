"""`attache eval` live, against the stand-in provider: faults mid-run, bad input, replay from the store, recording."""

from __future__ import annotations

import copy
import json
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from service.app import create_app
from service.cli.eval import eval_command
from service.settings import Settings
from tests.conftest import ATTACHE
from tests.unit.registry.test_load import line_of
from tools.news import US_JAPAN_MINERALS
from tools.scenarios import assessment
from tools.standin import Received, Reply, StandIn

VALID = assessment("jp-01-us-japan-critical-minerals")
RUBRIC = {
    criterion: {"score": 4, "reason": "Names the instruments and the actors."}
    for criterion in ("judgement_over_summary", "concreteness", "calibration", "faithfulness")
} | {"verdict": "Publishable."}
SUITE = """\
description: Faults and re-asks, live.
items:
  - id: fine
    context: Japan and the U.S. signed a critical-minerals framework.
    expect: {must_mention: [JOGMEC]}
  - id: provider-down
    context: PROVIDER-DOWN The provider fails on this item, every time.
  - id: never-valid
    context: NEVER-VALID The model pads the outlook to nine forecasts, every time.
  - id: also-fine
    context: The Bank of Japan raised its policy rate to 0.5%.
"""


def answer(received: Received) -> Reply:
    """Valid answers, but a provider error or an invalid answer for the items that say so; a rubric for the judge."""
    request: dict[str, Any] = received.json()
    system, user = (m["content"] for m in request["messages"][:2])
    if system.startswith("You are QA-01"):
        if "ALSO-FINE-JUDGE-DOWN" in user:
            return Reply.error(400, "bad request", "invalid_request_error")
        return Reply.completion(RUBRIC, tool="Rubric", usage=(2100, 160))  # within the judge's 1,024-token limit
    if "PROVIDER-DOWN" in user:
        return Reply.error(500, "The server had an error while processing your request.", "server_error")
    if "NEVER-VALID" in user:
        nine = copy.deepcopy(VALID)
        nine["outlook"] = (nine["outlook"] * 3)[:9]
        return Reply.completion(nine)
    return Reply.completion(VALID)


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with StandIn(responder=answer) as standin:
        yield standin


@pytest.fixture
def env(provider: StandIn, tmp_path: Path) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": provider.base_url,
        "OPENAI_API_KEY": "sk-test-eval",
        "ATTACHE_CACHE_DIR": "off",
        "ATTACHE_LLM_TRANSPORT_RETRIES": "1",
        "ATTACHE_LLM_MODEL": "",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(eval_command, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def suite(tmp_path: Path, text: str = SUITE) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(text)
    return path


def report(out: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((out / "report.json").read_text())
    return found


def test_a_provider_fault_mid_run_is_that_items_outcome_and_the_run_goes_on(
    env: dict[str, str], tmp_path: Path, provider: StandIn
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run(env, "jp-01", "--versions", "1.1.0", "--suite", str(suite(tmp_path)), "--judge",
                          "--concurrency", "1", "--out", str(out))  # fmt: skip
    assert code == 0, stdout
    found = report(out)
    outcomes = {i["item"]: i for i in found["items"]}
    assert outcomes["fine"]["outcome"] == "ok"
    assert outcomes["also-fine"]["outcome"] == "ok", "the run went on after the faults"
    down = outcomes["provider-down"]
    assert (down["outcome"], down["attempts"], down["assessment"]) == ("upstream_unavailable", 2, None)
    never = outcomes["never-valid"]
    assert (never["outcome"], never["attempts"], never["reasks"]) == ("invalid_model_output", 3, 2)
    assert outcomes["fine"]["judge"]["calibration"]["score"] == 4
    assert found["faults"] == 2
    assert "2 run(s) produced no assessment" in stdout
    assert "✗ upstream_unavailable" in stdout
    assert "✗ invalid_model_output" in stdout
    figures = found["versions"][0]["figures"]
    assert figures["ok_rate"] == 0.5
    assert figures["first_attempt_valid"] == 0.5
    assert figures["reasks"] == 0.5  # two re-asks over four items

    gated = run(env, "jp-01", "--versions", "1.1.0", "--suite", str(suite(tmp_path)), "--fail-on", "ok_rate<1",
                "--out", str(tmp_path / "gated"))  # fmt: skip
    assert gated[0] == 1, "a fault counts against its version, and a gate on it fails the run"
    assert "1.1.0 FAILED ok_rate<1" in gated[2]


def test_a_judge_fault_is_recorded_and_the_assessment_still_counts(env: dict[str, str], tmp_path: Path) -> None:
    text = SUITE.replace("The Bank of Japan raised", "ALSO-FINE-JUDGE-DOWN The Bank of Japan raised")
    out = tmp_path / "out"
    code, stdout, _ = run(env, "jp-01", "--versions", "1.1.0", "--suite", str(suite(tmp_path, text)), "--judge",
                          "--out", str(out))  # fmt: skip
    assert code == 0, stdout
    also = next(i for i in report(out)["items"] if i["item"] == "also-fine")
    assert (also["outcome"], also["judge"], also["judge_outcome"]) == ("ok", None, "upstream_rejected")
    assert "judge upstream_rejected" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jp-01", "--versions", "1.0.0,9.9.9"], "no version or label '9.9.9'; known: 1.0.0, 1.1.0, stable, canary"),
        (["zz-99"], "no agent 'zz-99'"),
        (["qa-01"], "qa-01 is a judge persona"),
        (["jp-01", "--baseline", "2.0.0"], "no version or label '2.0.0'"),
        (["jp-01", "--fail-on", "reasks>+10%"], "relative to the baseline"),
        (["jp-01", "--fail-on", "speed<1"], "no measure 'speed'"),
        (["jp-01", "--judge", "jp-01"], "--judge: jp-01 is a desk persona, not a judge"),
        (["jp-01", "--since", "2025-01-01"], "--since and --label filter --from-store"),
        (["jp-01", "--offline", "--record", "x"], "cannot be combined with --offline"),
    ],
)
def test_bad_input_exits_2_saying_what_is_wrong(env: dict[str, str], args: list[str], message: str) -> None:
    code, _, stderr = run(env, *args)
    assert code == 2
    assert message in stderr


def test_a_malformed_suite_exits_2_naming_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    path = suite(tmp_path, SUITE.replace("  - id: also-fine\n", "  - id: also-fine\n    sauce: x\n"))
    code, _, stderr = run(env, "jp-01", "--suite", str(path))
    assert code == 2
    assert f"{path}:{line_of(path, 'sauce')}: unknown key `sauce` in `items[3]`" in stderr


def test_a_live_run_needs_a_provider_and_an_offline_one_its_recordings(tmp_path: Path) -> None:
    bare = {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": "", "ATTACHE_CACHE_DIR": "off"}
    code, _, stderr = run(bare, "jp-01")
    assert code == 2
    assert "no provider configured" in stderr
    code, _, stderr = run(bare, "jp-01", "--offline", "--cassettes", str(tmp_path))
    assert code == 2
    assert f"no recorded exchanges for jp-01 in {tmp_path / 'jp-01'}" in stderr


def test_from_store_replays_what_callers_sent(env: dict[str, str], tmp_path: Path, provider: StandIn) -> None:
    settings = Settings(cache_dir="off", openai_base_url=provider.base_url, openai_api_key="sk-test")
    sent = [
        ({"agent": "jp-01", "context": US_JAPAN_MINERALS}, {}),
        ({"agent": "jp-01", "context": US_JAPAN_MINERALS}, {"Cache-Control": "no-cache"}),  # the same input again
        ({"agent": "jp-01@canary", "context": "Japan released rice from its stockpile.", "as_of": "2025-02-07"}, {}),
        ({"agent": "jp-01", "context": "A caller's private text."}, {"Cache-Control": "no-store"}),
        ({"agent": "kr-01", "context": "Another desk's news."}, {}),
    ]
    with TestClient(app=create_app(settings)) as client:
        for body, headers in sent:
            assert client.post("/assess", json=body, headers=headers).status_code == 200

    out = tmp_path / "all"
    code, _stdout, stderr = run(env, "jp-01", "--versions", "1.1.0", "--from-store", "--out", str(out))
    assert code == 0, stderr
    found = report(out)
    assert found["from_store"] == {"since": None, "label": None, "limit": 50, "items": 2, "skipped_without_text": 1}
    assert found["suites"] == [], "--from-store alone runs no suite"
    items = found["items"]
    assert {i["suite"] for i in items} == {"store"}
    assert all(i["origin"].startswith("store:") for i in items)
    replayed = [r.json()["messages"][1]["content"] for r in provider.received[len(sent) - 1 :]]
    assert any('as_of="2025-02-07"' in text and "rice from its stockpile" in text for text in replayed)

    canary = tmp_path / "canary"
    code, _, stderr = run(
        env, "jp-01", "--versions", "1.1.0", "--from-store", "--label", "canary", "--out", str(canary)
    )
    assert code == 0, stderr
    assert report(canary)["from_store"]["items"] == 1
    code, _, stderr = run(env, "jp-01", "--from-store", "--since", "2999-01-01")
    assert code == 2
    assert "no items to run" in stderr


def test_recorded_exchanges_replay_offline_and_a_changed_prompt_is_a_miss(env: dict[str, str], tmp_path: Path) -> None:
    text = SUITE.split("  - id: provider-down")[0]  # one item: fine
    recorded = tmp_path / "cassettes"
    args = ["jp-01", "--suite", str(suite(tmp_path, text)), "--judge"]
    code, _, stderr = run(env, *args, "--record", str(recorded), "--out", str(tmp_path / "live"))
    assert code == 0, stderr
    assert sorted(p.name for p in (recorded / "jp-01").iterdir()) == ["1.0.0.yaml", "1.1.0.yaml"]
    kept = (recorded / "jp-01" / "1.0.0.yaml").read_text()
    assert kept.startswith("# Authored by `attache eval --record` against a stand-in provider")
    assert "sk-test-eval" not in kept
    assert "authorization" not in kept.lower()

    offline = ["--offline", "--cassettes", str(recorded)]
    code, _, stderr = run(
        {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}, *args, *offline, "--out", str(tmp_path / "off")
    )
    assert code == 0, stderr
    live, replayed = report(tmp_path / "live"), report(tmp_path / "off")
    assert replayed["cassette_misses"] == 0
    assert [i["assessment"] for i in live["items"]] == [i["assessment"] for i in replayed["items"]]
    assert [i["judge"] for i in live["items"]] == [i["judge"] for i in replayed["items"]]

    changed = suite(tmp_path, text.replace("signed a critical-minerals", "signed a broad critical-minerals"))
    code, _, stderr = run({}, "jp-01", "--suite", str(changed), *offline, "--out", str(tmp_path / "miss"))
    assert code == 0
    missed = report(tmp_path / "miss")
    assert missed["cassette_misses"] == 2
    assert {i["outcome"] for i in missed["items"]} == {"cassette_miss"}
    assert "had no recorded exchange" in stderr


def test_a_live_run_on_a_terminal_shows_a_progress_bar(env: dict[str, str], tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    text = SUITE.split("  - id: provider-down")[0]
    process = subprocess.Popen(
        [ATTACHE, "eval", "jp-01", "--suite", str(suite(tmp_path, text)), "--out", str(tmp_path / "out")],
        env={**os.environ, **env, "COLUMNS": "100"},
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(timeout=60) == 0
    os.close(controller)
    shown = seen.decode(errors="replace")
    assert "assessing" in shown
    assert "2/2" in shown, shown[-500:]


def test_model_text_in_the_html_report_is_text_never_markup(tmp_path: Path) -> None:
    hostile = copy.deepcopy(VALID)
    hostile["title"] = 'JP-01 Assessment: <img src="https://example.com/x" onerror="alert(1)"> & more'
    hostile["bottom_line"] = "</dd><script>alert(1)</script>"
    with StandIn(default=Reply.completion(hostile)) as provider:
        env = {"OPENAI_BASE_URL": provider.base_url, "OPENAI_API_KEY": "sk-test", "ATTACHE_CACHE_DIR": "off"}
        text = SUITE.split("  - id: provider-down")[0]
        code, _, stderr = run(env, "jp-01", "--versions", "1.1.0", "--suite", str(suite(tmp_path, text)),
                              "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0, stderr
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;img src=&#34;https://example.com/x&#34;" in page
    assert "&lt;/dd&gt;&lt;script&gt;" in page
