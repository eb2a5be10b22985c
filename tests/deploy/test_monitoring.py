"""Ops assets checked by the real tools: promtool on the rules and on /metrics, a real
Prometheus server scraping the running service, and the dashboard's queries run on it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import ATTACHE, free_port, wait_until_up
from tools.news import CN01_REQUEST, JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "helm" / "files" / "attache.rules.yaml"
RULE_TESTS = ROOT / "tests" / "fixtures" / "prometheus" / "attache.rules.test.yaml"
DASHBOARD = ROOT / "helm" / "files" / "grafana-dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI=true (.ci/run installs Debian's prometheus package)")
        pytest.skip(f"{name} not installed; `apt-get install prometheus` to run this test")
    return path


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def alert_names(document: dict[str, Any]) -> set[str]:
    return {rule["alert"] for group in document["groups"] for rule in group["rules"] if "alert" in rule}


def test_rules_pass_promtool_check() -> None:
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_every_alert_has_a_passing_unit_test() -> None:
    rules = alert_names(yaml.safe_load(RULES.read_text()))
    assert rules == {
        "AttacheHighErrorRatio",
        "AttacheLatencyBudgetBurnFast",
        "AttacheLatencyBudgetBurnSlow",
        "AttacheReaskSpike",
        "AttacheProviderErrors",
        "AttacheProviderTimeouts",
        "AttacheNoSuccessfulAssessments",
        "AttacheAssessmentsNotKept",
        "AttacheSharedRateLimitsDown",
        "AttacheRegistryReloadFailing",
    }
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert fired == rules, f"alerts with no firing test: {rules - fired}"
    result = run(tool("promtool"), "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


async def test_metrics_after_real_traffic_pass_promtool_check_metrics(tmp_path: Path) -> None:
    promtool = tool("promtool")
    with StandIn() as provider:
        provider.push(Reply.completion(assessment("jp-01-us-japan-critical-minerals")))
        provider.push(Reply.error(503, "overloaded", "server_error", headers={"retry-after": "120"}))
        settings = Settings(
            cache_dir="off", openai_base_url=provider.base_url, openai_api_key="sk-test", response_cache_ttl=0
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST)).status_code == 200
            assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST)).status_code == 503
            await client.get("/agents/jp-01")
            text = (await client.get("/metrics")).text
    assert "gen_ai_client_operation_duration_seconds_bucket" in text
    result = run(promtool, "check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_has_the_panels_and_variables_an_sre_needs() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = [panel["title"] for panel in dashboard["panels"]]
    for needed in ("Request rate", "error ratio", "p50 / p95 / p99", "Model call latency", "Tokens per second",
                   "re-asks", "in flight"):  # fmt: skip
        assert any(needed.lower() in title.lower() for title in titles), needed
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "agent", "version"}
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(titles)


@pytest.fixture
def scraped_service(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`attache serve` with the stand-in provider, after real traffic, scraped by a real Prometheus."""
    prometheus = tool("prometheus")
    standin_port, service_port, prometheus_port = free_port(), free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    files: list[Any] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> None:
        files.append(out := (logs / f"{name}.log").open("w"))
        processes.append(subprocess.Popen(args, stdout=out, stderr=out, env=env, cwd=ROOT))

    try:
        start("standin", sys.executable, "-m", "tools.standin", "--port", str(standin_port))
        env = {
            **os.environ,
            "OPENAI_BASE_URL": f"http://127.0.0.1:{standin_port}/v1",
            "OPENAI_API_KEY": "sk-test",
            "ATTACHE_CACHE_DIR": str(tmp_path / "cache"),
            "ATTACHE_RESPONSE_CACHE_TTL": "0",  # every request reaches the stand-in, as the alerts expect
        }
        start("attache", ATTACHE, "serve", "--port", str(service_port), env=env)
        service = f"http://127.0.0.1:{service_port}"
        wait_until_up(f"{service}/health/ready", logs=sorted(logs.glob("*.log")), procs=processes)
        for body in (JP01_SAMPLE_REQUEST, CN01_REQUEST, JP01_SAMPLE_REQUEST):
            request = urllib.request.Request(
                f"{service}/assess", json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        config = tmp_path / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {
                            "job_name": "attache",
                            # The target labels the Prometheus Operator adds, which the adapter rule maps.
                            "static_configs": [
                                {
                                    "targets": [f"127.0.0.1:{service_port}"],
                                    "labels": {"namespace": "newsroom", "pod": "attache-7d4b9-x2x1q"},
                                }
                            ],
                        }
                    ],
                }
            )
        )
        start(
            "prometheus",
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        )
        wait_until_up(f"http://127.0.0.1:{prometheus_port}/-/ready", logs=sorted(logs.glob("*.log")), procs=processes)
        yield service, f"http://127.0.0.1:{prometheus_port}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        for file in files:
            file.close()


def query(prometheus: str, expr: str) -> dict[str, Any]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def test_a_real_prometheus_scrapes_the_service_and_every_query_runs(scraped_service: tuple[str, str]) -> None:
    _, prometheus = scraped_service
    deadline = time.monotonic() + 60
    while True:
        result = query(prometheus, 'sum by (agent) (attache_assessments_total{outcome="ok"})')["data"]["result"]
        if len(result) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {r["metric"]["agent"]: float(r["value"][1]) for r in result} == {"jp-01": 2.0, "cn-01": 1.0}

    # Every dashboard query and every alert expression is valid PromQL over the real series.
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    for expr in exprs:
        concrete = expr.replace("$__rate_interval", "1m").replace("$agent", ".*").replace("$version", ".*")
        answer = query(prometheus, concrete)
        assert answer["status"] == "success", (expr, answer)
    tokens = query(prometheus, 'sum(attache_tokens_total{token_type="output"})')["data"]["result"]
    assert float(tokens[0]["value"][1]) == 3 * 1420
    rules = json.load(urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10))
    assert rules["status"] == "success"
    assert len(rules["data"]["groups"][0]["rules"]) == 10


def adapter_rule(document: Path) -> dict[str, Any]:
    """The prometheus-adapter rule as a document shows it (its one YAML block with a seriesQuery)."""
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", document.read_text(), re.DOTALL) if "seriesQuery" in b]
    assert len(blocks) == 1, f"{document.name}: {len(blocks)} adapter rules"
    rule: dict[str, Any] = yaml.safe_load(textwrap.dedent(blocks[0]))["rules"]["custom"][0]
    return rule


def test_the_documented_adapter_rule_gives_the_hpa_in_flight_per_pod(scraped_service: tuple[str, str]) -> None:
    """What prometheus-adapter would ask Prometheus for the HPA's Pods metric, asked of a real one."""
    rule = adapter_rule(OPERATIONS)
    assert rule == adapter_rule(ROOT / "helm" / "README.md"), "the two documents show the same rule"
    hpa = (ROOT / "helm" / "templates" / "hpa.yaml").read_text()
    assert f"name: {rule['name']['as']}" in hpa, "the HPA asks for the name the adapter serves"
    _, prometheus = scraped_service
    series = rule["seriesQuery"]
    # The adapter's templating for one HPA request: this namespace's pods, grouped by pod.
    expr = (
        rule["metricsQuery"]
        .replace("<<.Series>>", series.split("{")[0])
        .replace("<<.LabelMatchers>>", 'namespace="newsroom",pod=~"attache-7d4b9-x2x1q"')
        .replace("<<.GroupBy>>", "pod")
    )
    deadline = time.monotonic() + 60
    while not (found := query(prometheus, series)["data"]["result"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert found, f"no series for {series}"
    answer = query(prometheus, expr)
    assert answer["status"] == "success", answer
    (value,) = answer["data"]["result"]
    assert value["metric"] == {"pod": "attache-7d4b9-x2x1q"}
    assert float(value["value"][1]) == 0, "nothing in flight once the traffic is answered"
