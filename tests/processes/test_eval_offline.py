"""CI's eval: every desk's suites through every published version, offline, judged; the reports it writes.

The exchanges are replayed from `cassettes/eval/` (authored: see cassettes/README.md). A
prompt changed since they were recorded no longer matches: the run then reports cassette
misses and this test fails, until they are recorded again (`make eval-cassettes`).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from service.cli.eval import eval_command
from service.eval.measures import MEASURES
from service.eval.run import DEFAULT_CASSETTES, BadInput, EvalOptions
from service.eval.run import run_eval as run_eval_function
from service.registry import load_registry
from service.settings import DEFAULT_REGISTRY_DIR
from tests.conftest import ATTACHE
from tests.deploy.test_docs_browser import chromium
from tests.unit.eval.test_suite import DESKS

CI_GATE = "ok_rate<1,echo_in_language<0.6,title_callsign<0.6"


def run_eval(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(eval_command, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def report(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("desk", DESKS)
def test_every_desk_passes_its_offline_eval(desk: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTACHE_LLM_MODEL", raising=False)
    code, output = run_eval(desk, "--offline", "--judge", "--fail-on", CI_GATE, "--out", str(tmp_path))
    assert code == 0, output
    found = report(tmp_path)
    assert found["cassette_misses"] == 0, "a prompt changed since its exchanges were recorded: make eval-cassettes"
    assert found["faults"] == 0
    assert found["mode"] == "offline"
    assert [v["version"] for v in found["versions"]] == list(_published(desk))
    assert len(found["items"]) >= 5 * len(found["versions"])
    for view in found["versions"]:
        figures = view["figures"]
        assert figures["ok_rate"] == 1.0
        assert all(figures[f"judge_{c}"] for c in ("judgement", "concreteness", "calibration", "faithfulness"))
        assert figures["input_tokens"] > 1000
        assert figures["cost"] > 0
    assert (tmp_path / "summary.md").read_text().startswith(f"# {desk.upper()} eval: ")


def _published(desk: str) -> list[str]:
    return list(load_registry(DEFAULT_REGISTRY_DIR).personas[desk].versions)


def test_the_offline_run_is_deterministic(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        code, output = run_eval("jp-01", "--offline", "--judge", "--out", str(tmp_path / name))
        assert code == 0, output
        runs.append(report(tmp_path / name))
    latency = {"latency_p50", "latency_p95"}
    for first, second in zip(runs[0]["versions"], runs[1]["versions"], strict=True):
        assert {k: v for k, v in first["figures"].items() if k not in latency} == {
            k: v for k, v in second["figures"].items() if k not in latency
        }
    strip = ("latency_ms",)
    assert [{k: v for k, v in i.items() if k not in strip} for i in runs[0]["items"]] == [
        {k: v for k, v in i.items() if k not in strip} for i in runs[1]["items"]
    ]


def test_jp01_versions_differ_where_their_prompts_do(tmp_path: Path) -> None:
    """1.1.0 asks for calibrated forecasts and faithful attributions; the measures show it, at a token cost."""
    code, output = run_eval("jp-01", "--offline", "--judge", "--baseline", "1.0.0", "--out", str(tmp_path))
    assert code == 0, output
    figures = {v["version"]: v["figures"] for v in report(tmp_path)["versions"]}
    old, new = figures["1.0.0"], figures["1.1.0"]
    assert new["likelihood_spread"] > old["likelihood_spread"]
    assert new["horizons"] > old["horizons"]
    assert new["quotes_verbatim"] > old["quotes_verbatim"]
    assert new["judge_calibration"] > old["judge_calibration"]
    assert new["input_tokens"] > old["input_tokens"], "the longer prompt costs input tokens"
    assert old["first_attempt_valid"] == new["first_attempt_valid"] == 0.8


def test_a_threshold_failure_exits_1_naming_the_rule(tmp_path: Path) -> None:
    """Through the installed `attache` command, as CI calls it."""
    result = subprocess.run(
        [ATTACHE, "eval", "jp-01", "--versions", "stable,canary", "--offline", "--baseline", "stable",
         "--fail-on", "first_attempt_valid<0.8,input_tokens>+5%", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "1.1.0 FAILED input_tokens>+5%" in result.stderr
    assert "1.1.0 passed first_attempt_valid<0.8" in result.stdout
    found = report(tmp_path)
    assert found["failed"] is True
    assert [v["failed"] for v in found["verdicts"]] == [False, True]


def test_the_html_report_is_one_file_that_fetches_nothing(tmp_path: Path) -> None:
    code, _ = run_eval("jp-01", "--offline", "--judge", "--baseline", "1.0.0", "--out", str(tmp_path))
    assert code == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "nothing is loaded from anywhere"
    assert "<script" not in page
    assert "<link" not in page
    assert "@import" not in page
    assert "url(" not in page
    assert "default-src 'none'" in page, "a Content-Security-Policy forbids fetching even by mistake"
    charted = [m for m in MEASURES if m.name != "items"]
    assert page.count("<svg") == len(charted)
    assert "Judge: calibration" in page
    assert "1.0.0 (stable, baseline)" in page


@pytest.mark.browser
def test_the_html_report_renders_in_a_browser_with_no_network(tmp_path: Path) -> None:
    browser = chromium()
    code, _ = run_eval("jp-01", "--offline", "--judge", "--baseline", "1.0.0", "--out", str(tmp_path))
    assert code == 0
    common = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",  # no network at all
    ]  # fmt: skip
    page = f"file://{tmp_path / 'report.html'}"
    dom = subprocess.run([*common, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") == len([m for m in MEASURES if m.name != "items"])
    assert "Thresholds" not in dom.stdout, "no --fail-on, no verdict box"
    shot = tmp_path / "report.png"
    subprocess.run(
        [*common, "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}", page],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.stat().st_size > 50_000, "a rendered page, not a blank one"


def test_the_eval_cassettes_say_they_were_authored_and_hold_no_credentials() -> None:
    files = sorted(DEFAULT_CASSETTES.rglob("*.yaml"))
    assert {p.parent.name for p in files} == set(DESKS)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# Authored by `attache eval --record` against a stand-in provider"), path
        # A header that could carry a key, or a key itself ("National Defense Authorization Act" is news).
        assert not re.search(r"^\s*-?\s*(authorization|api-key|openai-organization|openai-project|cookie|set-cookie):",
                             text, re.IGNORECASE | re.MULTILINE), path  # fmt: skip
        assert not re.search(r"\b(bearer\s+\S|sk-[a-z0-9])", text, re.IGNORECASE), path


def test_a_run_is_a_function_with_typed_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_eval(EvalOptions)` runs without click: lines go to `echo`, bad input is an exception."""
    monkeypatch.delenv("ATTACHE_LLM_MODEL", raising=False)
    lines: list[tuple[str, bool]] = []
    options = EvalOptions(agent="jp-01", versions="1.0.0", offline=True, fail_on="ok_rate<1", out=tmp_path)
    outcome = run_eval_function(options, echo=lambda line, note: lines.append((line, note)))
    assert not outcome.failed
    assert outcome.written.json == tmp_path / "report.json"
    assert [v.version for v in outcome.report.versions] == ["1.0.0"]
    summaries = [line for line, note in lines if not note]
    assert len(summaries) == 1
    assert summaries[0].startswith("# JP-01 eval: ")
    with pytest.raises(BadInput, match="zz-99"):
        run_eval_function(EvalOptions(agent="zz-99", offline=True, out=tmp_path))
