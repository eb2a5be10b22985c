"""The image and the chart, checked as far as the tools reachable here allow (helm/README.md).

hadolint on the Dockerfile with warnings as failures; the chart's values (defaults merged
with every ci/*-values.yaml scenario, as helm merges them) against values.schema.json;
yamllint on every plain YAML file; and the chart's structure: one source for the alert rules,
versions, the objects a platform team expects.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))


def merged(overrides: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of user values over the chart's defaults (maps merge, everything else replaces)."""
    result = copy.deepcopy(DEFAULTS)

    def merge(into: dict[str, Any], values: dict[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(result, overrides or {})
    return dict(result)


def bin_tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is installed into .venv from the lock"
    return str(path)


def test_hadolint_passes_with_warnings_as_failures() -> None:
    result = subprocess.run(
        [bin_tool("hadolint"), "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of a pip-compile lock."""
    found: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", lock.read_text()):
        match = re.match(r"([a-z0-9._-]+)==(\S+)", block)
        if match:
            found[match[1]] = (match[2], block.count("--hash=sha256:"))
    return found


def test_the_image_installs_only_hashed_locks_on_a_pinned_base() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}$", dockerfile, re.MULTILINE)
    installs = re.findall(r"pip install [^&\n]*", dockerfile)
    assert installs
    for install in installs:
        assert "--require-hashes" in install or "/src/dist/attache-" in install, install
    everything = pins(ROOT / "requirements.lock")
    for name in ("requirements-runtime.lock", "requirements-build.lock"):
        subset = pins(ROOT / name)
        assert subset, name
        for package, (version, hashes) in subset.items():
            assert hashes, f"{name}: {package} has no hash"
            assert everything[package][0] == version, f"{name}: {package} drifted from requirements.lock"
    assert all(hashes for _, hashes in everything.values()), "requirements.lock is hashed too"


def test_the_image_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    assert "COPY registry/ /app/registry/" in dockerfile
    assert dockerfile.count("FROM ") == 2, "multi-stage: build tools stay in the first stage"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_scenario_validates_against_the_values_schema(scenario: Path) -> None:
    jsonschema.validate(merged(yaml.safe_load(scenario.read_text())), SCHEMA)


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"attache": {"workers": 0}}, "0 is less than the minimum of 1"),
        ({"attache": {"llm": {"mode": "telepathy"}}}, "'telepathy' is not one of"),
        ({"provider": {"baseUrl": "ftp://example"}}, "does not match"),
        ({"clientKeys": {"keys": ["short"]}}, "is too short"),
        ({"replicas": 3}, "Additional properties are not allowed"),
        ({"registry": {"override": {"enabled": True, "files": {"../etc/passwd": "x"}}}}, "does not match"),
    ],
)
def test_the_values_schema_rejects_mistakes(overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(jsonschema.ValidationError, match=complaint):
        jsonschema.validate(merged(overrides), SCHEMA)


def test_plain_yaml_passes_yamllint() -> None:
    files = [CHART / "Chart.yaml", CHART / "values.yaml", *SCENARIOS, *sorted((CHART / "files").glob("*.yaml"))]
    config = (
        "{extends: default, rules: {line-length: {max: 160}, document-start: disable, truthy: {check-keys: false}}}"
    )
    result = subprocess.run([bin_tool("yamllint"), "-d", config, *map(str, files)], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout


def test_chart_versions_and_objects() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == project["version"]
    assert "version" in chart
    templates = {p.name for p in (CHART / "templates").rglob("*") if p.is_file()}
    expected = [
        "_helpers.tpl",
        "deployment.yaml",
        "service.yaml",
        "serviceaccount.yaml",
        "secret.yaml",
        "configmap-registry.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "servicemonitor.yaml",
        "prometheusrule.yaml",
        "networkpolicy.yaml",
        "test-ready.yaml",
    ]
    assert set(expected) <= templates


def test_the_prometheus_rule_is_built_from_the_tested_rules_file() -> None:
    template = (CHART / "templates" / "prometheusrule.yaml").read_text()
    assert '.Files.Get "files/attache.rules.yaml"' in template
    for path in (CHART / "templates").rglob("*.yaml"):
        assert "AttacheHighErrorRatio" not in path.read_text(), f"{path.name} copies the rules"


def test_the_deployment_is_locked_down_and_probed() -> None:
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    for needed in ("checksum/config", "checksum/secret", "livenessProbe", "readinessProbe", "securityContext",
                   "secretKeyRef", "emptyDir"):  # fmt: skip
        assert needed in deployment, needed
    assert DEFAULTS["securityContext"]["readOnlyRootFilesystem"] is True
    assert DEFAULTS["podSecurityContext"]["runAsNonRoot"] is True
    assert DEFAULTS["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert DEFAULTS["readinessProbe"]["httpGet"]["path"] == "/health/ready"


def test_the_image_builds_with_buildah_where_it_can() -> None:
    """The full image build (.ci/build-image) needs root, buildah and debootstrap."""
    if os.environ.get("ATTACHE_BUILD_IMAGE") != "1":
        pytest.skip("set ATTACHE_BUILD_IMAGE=1 to build the image here (.ci/run does, as root)")
    if shutil.which("buildah") is None or shutil.which("debootstrap") is None:
        pytest.fail("ATTACHE_BUILD_IMAGE=1 needs Debian's buildah and debootstrap")
    result = subprocess.run(["bash", str(ROOT / ".ci" / "build-image")], capture_output=True, text=True,
                            timeout=1200, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "image localhost/attache:ci built and checked" in result.stdout


GO = Path("/usr/lib/go-1.19/bin/go")
KUBERNETES = "1.30.0"
CRDS = {"ServiceMonitor", "PrometheusRule"}  # CustomResourceDefinitions: no schema ships with Kubernetes


@pytest.fixture(scope="module")
def helm_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """.ci/helm-render built with Debian's Go and sprig (see its header for what it reproduces)."""
    if not GO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true needs Debian's golang-1.19-go and golang-github-masterminds-sprig-dev (.ci/run)")
        pytest.skip("apt-get install golang-1.19-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev")
    binary = tmp_path_factory.mktemp("helm-render") / "helm-render"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(binary.parent / "cache")}
    result = subprocess.run(
        [str(GO), "build", "-o", str(binary), str(ROOT / ".ci" / "helm-render" / "main.go")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return binary


def render(helm_render: Path, scenario: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(helm_render), str(CHART), "attache", "newsroom", str(scenario)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_scenario_renders_to_valid_kubernetes_objects(helm_render: Path, scenario: Path) -> None:
    import kubernetes_validate

    documents = render(helm_render, scenario)
    kinds = [doc["kind"] for doc in documents]
    assert "Deployment" in kinds
    assert "Service" in kinds
    for document in documents:
        if document["kind"] in CRDS:
            continue
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_production_scenario_objects(helm_render: Path) -> None:
    documents = {doc["kind"]: doc for doc in render(helm_render, CHART / "ci" / "production-values.yaml")}
    assert {"Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "ServiceMonitor", "PrometheusRule", "NetworkPolicy", "ConfigMap", "Pod"} <= set(documents)  # fmt: skip
    rules = yaml.safe_load((CHART / "files" / "attache.rules.yaml").read_text())
    assert documents["PrometheusRule"]["spec"] == rules, "the PrometheusRule is the tested rules file"
    container = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "attache-openai"
    assert "ATTACHE_API_KEYS" not in env, "a path is never passed where a literal list is read"
    assert env["ATTACHE_API_KEYS_FILE"]["value"] == "/var/run/secrets/attache/api-keys"
    volumes = {v["name"]: v for v in documents["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    # Only the named key is projected: a Secret without it fails the pod instead of running open.
    assert volumes["client-keys"]["secret"]["items"] == [{"key": "api-keys", "path": "api-keys"}]
    assert container["args"] == ["serve", "--workers", "4"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert documents["Pod"]["metadata"]["annotations"]["helm.sh/hook"] == "test"


def test_config_changes_roll_the_pods(helm_render: Path, tmp_path: Path) -> None:
    def checksum(scenario: Path) -> str:
        deployment = next(d for d in render(helm_render, scenario) if d["kind"] == "Deployment")
        annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/secret"]

    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(yaml.safe_dump({"provider": {"apiKey": "sk-first"}}))
    two.write_text(yaml.safe_dump({"provider": {"apiKey": "sk-second"}}))
    assert checksum(one) != checksum(two)
