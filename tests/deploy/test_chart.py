"""The image and the chart, checked as far as the tools reachable here allow (helm/README.md).

hadolint on the Dockerfile with warnings as failures; the chart's values (defaults merged
with every ci/*-values.yaml scenario, as helm merges them) against values.schema.json;
yamllint on every plain YAML file; and the chart's structure: one source for the alert rules,
versions, the objects a platform team expects.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import ATTACHE, free_port, wait_until_up
from tests.deploy.network_policy import Address, Pod, admits, container_ports, lets_out

ROOT = Path(__file__).resolve().parent.parent.parent
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
        ({"clientKeys": {"keys": ["ck-sixteen-chars"]}}, "is too short"),  # the service wants 32
        ({"adminKeys": {"keys": ["short"]}}, "is too short"),
        ({"replicas": 3}, "Additional properties are not allowed"),
        # The roll-out timing: terminationGracePeriodSeconds is derived, never a value of its own.
        ({"terminationGracePeriodSeconds": 30}, "Additional properties are not allowed"),
        ({"attache": {"shutdownGrace": 0}}, "0 is less than the minimum of 1"),
        ({"attache": {"llm": {"timeout": 0}}}, "0 is less than the minimum of 1"),
        ({"attache": {"llm": {"timeout": 1.5}}}, "1.5 is not of type 'integer'"),
        ({"preStopSleepSeconds": -1}, "-1 is less than the minimum of 0"),
        ({"metrics": {"port": 8000}}, "should not be valid"),
        ({"store": {"type": "mysql"}}, "'mysql' is not one of"),
        ({"store": {"type": "postgresql"}}, "'' should be non-empty"),
        ({"callerSecret": {"value": "too-short"}}, "'too-short' is too short"),
        ({"attache": {"trustedProxies": ["ingress.example"]}}, "does not match"),
        ({"networkPolicy": {"egress": {"provider": {"ports": []}}}}, "should be non-empty"),
        ({"networkPolicy": {"providerCIDRs": []}}, "Additional properties are not allowed"),
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
        "job-db-upgrade.yaml",
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


# --- Rendered objects, one property at a time ---------------------------------------------------

KEYS = {"clientKeys": {"existingSecret": "attache-client-keys"}}
FLEET = {
    **KEYS,
    "replicaCount": 3,
    "callerSecret": {"existingSecret": "attache-caller"},
    "store": {"type": "postgresql", "postgresql": {"existingSecret": "attache-postgresql"}},
    "redis": {"existingSecret": "attache-redis"},
}
PRODUCTION = CHART / "ci" / "production-values.yaml"
FLEET_SCENARIO = CHART / "ci" / "fleet-values.yaml"


def with_values(tmp_path: Path, *layers: dict[str, Any]) -> Path:
    """One values file holding `layers` merged in order (helm's merge), for .ci/helm-render."""
    result: dict[str, Any] = {}
    for layer in layers:
        result = merged_into(result, layer)
    path = tmp_path / f"values-{len(list(tmp_path.glob('values-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(result))
    return path


def merged_into(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged_into(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def render_error(helm_render: Path, values: Path) -> str:
    """The message of a render the chart refuses (a `fail`), asserting that it refused."""
    result = subprocess.run([str(helm_render), str(CHART), "attache", "newsroom", str(values)], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode != 0, f"rendered, but should have been refused:\n{result.stdout[:2000]}"
    return result.stderr


def objects(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


def one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in documents if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def server(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's attache container."""
    container: dict[str, Any] = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container["env"]}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# Secure by default: no keys, no render, unless open mode is chosen on purpose.


def test_the_chart_refuses_to_render_without_client_keys(helm_render: Path, tmp_path: Path) -> None:
    message = render_error(helm_render, with_values(tmp_path, {}))
    assert "no client keys" in message
    assert "auth.open=true" in message, "the refusal says how to opt out on purpose"


def test_open_mode_is_an_opt_in_and_excludes_keys(helm_render: Path, tmp_path: Path) -> None:
    documents = render(helm_render, CHART / "ci" / "open-values.yaml")
    container = server(documents)
    assert "ATTACHE_API_KEYS_FILE" not in env_of(container)
    assert env_of(container)["ATTACHE_TRUSTED_PROXIES"]["value"] == "10.42.0.0/16,fd00:42::/64"
    assert "client-keys" not in {v["name"] for v in one(documents, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    both = with_values(tmp_path, {"auth": {"open": True}}, KEYS)
    assert "drop one of the two" in render_error(helm_render, both)
    admins = with_values(tmp_path, {"auth": {"open": True}, "adminKeys": {"existingSecret": "attache-admin-keys"}})
    assert "adminKeys are set with auth.open=true" in render_error(helm_render, admins)


def test_admin_keys_are_mounted_like_client_keys(helm_render: Path) -> None:
    documents = render(helm_render, FLEET_SCENARIO)
    deployment = one(documents, "Deployment")
    env = env_of(server(documents))
    assert env["ATTACHE_ADMIN_KEYS_FILE"]["value"] == "/var/run/secrets/attache-admin/admin-keys"
    assert env["ATTACHE_API_KEYS_FILE"]["value"] == "/var/run/secrets/attache/api-keys"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["admin-keys"]["secret"] == {
        "secretName": "attache-admin-keys",
        "items": [{"key": "admin-keys", "path": "admin-keys"}],  # only the named key: never open by accident
    }
    mounts = {m["name"]: m for m in server(documents)["volumeMounts"]}
    assert mounts["admin-keys"] == {"name": "admin-keys", "mountPath": "/var/run/secrets/attache-admin",
                                    "readOnly": True}  # fmt: skip
    secret = objects(documents)[("Secret", "attache-admin-keys")]
    assert base64.b64decode(secret["data"]["admin-keys"]).decode() == "ak-oncall-0123456789abcdef0123456789ab"


# A fleet: PostgreSQL, Redis and one caller secret, or no render.


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"store": {"type": "postgresql"}}, "store.type=postgresql needs store.postgresql.existingSecret"),
        ({"replicaCount": 2}, "store.type=sqlite keeps assessments in each pod, but up to 2 pods"),
        ({"autoscaling": {"enabled": True}}, "up to 10 pods"),
        ({**FLEET, "callerSecret": {"existingSecret": ""}}, "callerSecret: every replica"),
        ({"redis": {"existingSecret": "attache-redis"}}, "callerSecret: every replica"),  # one pod, but Redis
        ({"store": {"type": "off"}, "replicaCount": 2}, "callerSecret: every replica"),
        ({**FLEET, "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}, "minReplicas is larger"),
        ({**FLEET, "autoscaling": {"enabled": True}, "resources": {"requests": {"cpu": None}}}, "requests.cpu"),
    ],
)
def test_a_fleet_without_what_it_shares_is_refused(
    helm_render: Path, tmp_path: Path, values: dict[str, Any], complaint: str
) -> None:
    assert complaint in render_error(helm_render, with_values(tmp_path, KEYS, values))


def test_the_fleet_shares_postgresql_redis_and_the_caller_secret(helm_render: Path) -> None:
    documents = render(helm_render, FLEET_SCENARIO)
    env = env_of(server(documents))
    assert env["ATTACHE_DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "attache-postgresql", "key": "database-url"}
    }
    assert env["ATTACHE_REDIS_URL"]["valueFrom"] == {"secretKeyRef": {"name": "attache-redis", "key": "redis-url"}}
    assert env["ATTACHE_CALLER_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "attache-caller", "key": "caller-secret"}
    }
    stored = objects(documents)[("Secret", "attache-caller")]["data"]["caller-secret"]
    assert base64.b64decode(stored).decode() == "c2VjcmV0LW9mLXRoZS1mbGVldC1kby1ub3QtcmV1c2UK"
    assert one(documents, "Deployment")["spec"]["replicas"] == 3
    assert one(documents, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_one_pod_keeps_its_store_on_a_writable_volume(helm_render: Path, tmp_path: Path) -> None:
    documents = render(helm_render, CHART / "ci" / "default-values.yaml")
    container = server(documents)
    env = env_of(container)
    assert "ATTACHE_DATABASE_URL" not in env, "SQLite in ATTACHE_DATA_DIR"
    assert "ATTACHE_CALLER_SECRET" not in env
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in one(documents, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    data = volumes[mounts[env["ATTACHE_DATA_DIR"]["value"]]]
    assert data["emptyDir"] == {"sizeLimit": "1Gi"}, "the root filesystem is read-only"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert not [doc for doc in documents if doc["kind"] in ("PodDisruptionBudget", "Job", "HorizontalPodAutoscaler")]
    off = server(render(helm_render, with_values(tmp_path, KEYS, {"store": {"type": "off"}})))
    assert env_of(off)["ATTACHE_DATABASE_URL"]["value"] == "off"


# Roll-outs that lose nothing: preStop, then SIGTERM, then the drain, inside the kubelet's deadline.


@pytest.mark.parametrize(
    ("values", "timeout", "grace", "pause", "termination"),
    [
        ({}, 60, 70, 10, 85),  # the defaults: a 60 s deadline gets 70 s of drain, not 30
        ({"attache": {"llm": {"timeout": 90}}, "preStopSleepSeconds": 0}, 90, 100, 0, 105),
        ({"attache": {"llm": {"timeout": 120}, "shutdownGrace": 150}, "preStopSleepSeconds": 15}, 120, 150, 15, 170),
        ({"attache": {"llm": {"timeout": 30}, "shutdownGrace": 30}}, 30, 30, 10, 45),
    ],
)
def test_the_drain_and_the_kubelets_deadline_are_derived_from_the_llm_timeout(
    helm_render: Path, tmp_path: Path, values: dict[str, Any], timeout: int, grace: int, pause: int, termination: int
) -> None:
    documents = render(helm_render, with_values(tmp_path, KEYS, values))
    pod = one(documents, "Deployment")["spec"]["template"]["spec"]
    container = server(documents)
    env = env_of(container)
    assert env["ATTACHE_LLM_TIMEOUT"]["value"] == str(timeout)
    assert env["ATTACHE_SHUTDOWN_GRACE"]["value"] == str(grace)
    assert pod["terminationGracePeriodSeconds"] == termination
    if pause:
        assert container["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", str(pause)]}}
    else:
        assert "lifecycle" not in container
    # The invariant itself: nothing still within its deadline is killed by the kubelet.
    assert int(env["ATTACHE_SHUTDOWN_GRACE"]["value"]) >= int(env["ATTACHE_LLM_TIMEOUT"]["value"])
    assert pod["terminationGracePeriodSeconds"] > pause + grace


def test_a_roll_out_starts_the_new_pod_before_an_old_one_drains(helm_render: Path) -> None:
    for scenario in (CHART / "ci" / "default-values.yaml", PRODUCTION):
        strategy = one(render(helm_render, scenario), "Deployment")["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_a_drain_shorter_than_the_deadline_is_refused(helm_render: Path, tmp_path: Path) -> None:
    values = with_values(tmp_path, KEYS, {"attache": {"llm": {"timeout": 90}, "shutdownGrace": 60}})
    message = render_error(helm_render, values)
    assert "attache.shutdownGrace (60 s) is shorter than attache.llm.timeout (90 s)" in message


def test_numbers_reach_the_service_as_integers(helm_render: Path, tmp_path: Path) -> None:
    """Helm reads numbers as floats: printed bare, 1048576 becomes 1.048576e+06, which no setting parses."""
    values = {"attache": {"maxBodyBytes": 4194304, "maxContextChars": 100000, "llm": {"timeout": 300}}}
    env = env_of(server(render(helm_render, with_values(tmp_path, KEYS, values))))
    assert env["ATTACHE_MAX_BODY_BYTES"]["value"] == "4194304"
    assert env["ATTACHE_MAX_CONTEXT_CHARS"]["value"] == "100000"
    assert env["ATTACHE_SHUTDOWN_GRACE"]["value"] == "310"
    for entry in env.values():
        assert "e+" not in entry.get("value", ""), entry


# The migration Job: a hook, before any new pod, with the pods' own store settings.


def test_the_migration_job_runs_db_upgrade_before_install_and_upgrade(helm_render: Path) -> None:
    documents = render(helm_render, PRODUCTION)
    job = one(documents, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}
    pod = job["spec"]["template"]["spec"]
    (migrate,) = pod["containers"]
    container = server(documents)
    deployment_pod = one(documents, "Deployment")["spec"]["template"]["spec"]
    assert migrate["args"] == ["db", "upgrade"]
    assert migrate["image"] == container["image"]
    assert migrate["securityContext"] == container["securityContext"]
    assert pod["securityContext"] == deployment_pod["securityContext"]
    assert pod["restartPolicy"] == "Never"
    env = env_of(migrate)
    assert env["ATTACHE_DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "attache-postgresql", "key": "database-url"}
    }
    for name, entry in env.items():  # the same settings as the pods, none of their own
        assert env_of(container)[name] == entry, name
    # It runs before the release's objects exist: nothing it uses may be made by the chart.
    made = {doc["metadata"]["name"] for doc in documents if doc["kind"] in ("Secret", "ServiceAccount", "ConfigMap")}
    used = {e["valueFrom"]["secretKeyRef"]["name"] for e in env.values() if "valueFrom" in e}
    assert not used & made
    assert pod.get("serviceAccountName") not in made
    assert not selects(one(documents, "Deployment")["spec"]["selector"]["matchLabels"], pod_labels(job))


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def test_the_migration_jobs_name_fits_the_label_it_becomes(helm_render: Path, tmp_path: Path) -> None:
    values = with_values(tmp_path, yaml.safe_load(PRODUCTION.read_text()), {"fullnameOverride": "a" * 63})
    name = one(render(helm_render, values), "Job")["metadata"]["name"]
    assert len(name) <= 63, name
    assert name.endswith("-db-upgrade")


def test_the_migration_job_only_exists_for_postgresql(helm_render: Path, tmp_path: Path) -> None:
    kinds = {doc["kind"] for doc in render(helm_render, CHART / "ci" / "default-values.yaml")}
    assert "Job" not in kinds, "SQLite lives in each pod: the pod migrates it on start"
    off = with_values(tmp_path, FLEET, {"store": {"postgresql": {"migrationJob": {"enabled": False}}}})
    assert "Job" not in {doc["kind"] for doc in render(helm_render, off)}


def test_the_helm_test_and_migration_pods_are_never_the_services_endpoints(helm_render: Path) -> None:
    documents = render(helm_render, PRODUCTION)
    selector = one(documents, "Service")["spec"]["selector"]
    assert selects(selector, pod_labels(one(documents, "Deployment")))
    assert not selects(selector, one(documents, "Pod")["metadata"]["labels"])
    assert not selects(selector, pod_labels(one(documents, "Job")))


# The NetworkPolicy, asked the questions an operator would ask (tests/deploy/network_policy.py).

PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack"})
NEWSROOM = Pod("newsroom", {"app": "newsroom-web"})  # the release namespace is also "newsroom"
ELSEWHERE = Pod("default", {"app": "curious"})


def fence(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], Pod, dict[str, int]]:
    """The NetworkPolicy, one of the release's pods, and its named ports."""
    deployment = one(documents, "Deployment")
    return one(documents, "NetworkPolicy"), Pod("newsroom", pod_labels(deployment)), container_ports(deployment)


def test_prometheus_scrapes_the_metrics_port_and_nothing_else(helm_render: Path) -> None:
    documents = render(helm_render, PRODUCTION)
    policy, attache, ports = fence(documents)
    metrics = ports["metrics"]
    assert metrics == int(env_of(server(documents))["ATTACHE_METRICS_PORT"]["value"]) == 9100
    assert admits(policy, PROMETHEUS, attache, metrics, ports)
    assert not admits(policy, PROMETHEUS, attache, ports["http"], ports), "the scraper gets no API access"
    assert not admits(policy, Pod("monitoring", {"app": "other"}), attache, metrics, ports)
    assert not admits(policy, Pod("newsroom", {"app.kubernetes.io/name": "prometheus"}), attache, metrics, ports)
    # The scrape is aimed at that port: the Service names it and the ServiceMonitor uses it.
    service_ports = {p["name"]: p for p in one(documents, "Service")["spec"]["ports"]}
    assert service_ports["metrics"]["targetPort"] == "metrics"
    assert [e["port"] for e in one(documents, "ServiceMonitor")["spec"]["endpoints"]] == ["metrics"]


def test_callers_and_helm_test_reach_the_api_and_no_one_else(helm_render: Path) -> None:
    documents = render(helm_render, PRODUCTION)
    policy, attache, ports = fence(documents)
    assert admits(policy, NEWSROOM, attache, ports["http"], ports)
    assert not admits(policy, NEWSROOM, attache, ports["metrics"], ports)
    assert not admits(policy, ELSEWHERE, attache, ports["http"], ports)
    test_pod = one(documents, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert admits(policy, Pod("newsroom", test_pod["metadata"]["labels"]), attache, ports["http"], ports)
    # In the fleet scenario ingressFrom names pods of the namespace only; `helm test` still passes.
    fleet, fleet_pod, fleet_ports = fence(render(helm_render, FLEET_SCENARIO))
    assert not admits(fleet, NEWSROOM, fleet_pod, fleet_ports["http"], fleet_ports)
    assert admits(fleet, Pod("newsroom", test_pod["metadata"]["labels"]), fleet_pod, fleet_ports["http"], fleet_ports)
    assert admits(fleet, Pod("observability", {"app": "prometheus"}), fleet_pod, fleet_ports["metrics"], fleet_ports)
    assert not admits(fleet, PROMETHEUS, fleet_pod, fleet_ports["metrics"], fleet_ports)


def test_empty_allow_lists_mean_this_namespace_and_nothing_outside(helm_render: Path, tmp_path: Path) -> None:
    values = with_values(tmp_path, KEYS, {"networkPolicy": {"enabled": True, "ingressFrom": [], "metricsFrom": []}})
    policy, attache, ports = fence(render(helm_render, values))
    for port in (ports["http"], ports["metrics"]):
        assert admits(policy, NEWSROOM, attache, port, ports)
        assert not admits(policy, ELSEWHERE, attache, port, ports)
        assert not admits(policy, PROMETHEUS, attache, port, ports)


def test_egress_reaches_dns_the_provider_postgresql_and_redis_only(helm_render: Path, tmp_path: Path) -> None:
    policy, attache, _ = fence(render(helm_render, PRODUCTION))
    assert lets_out(policy, attache, Address("10.96.0.10"), 53, "UDP")
    assert lets_out(policy, attache, Address("10.96.0.10"), 53, "TCP")
    assert lets_out(policy, attache, Address("162.159.140.245"), 443), "a provider's public address"
    assert not lets_out(policy, attache, Address("162.159.140.245"), 80)
    assert lets_out(policy, attache, Address("10.20.0.7"), 5432)
    assert not lets_out(policy, attache, Address("10.99.0.7"), 5432), "PostgreSQL only where it is"
    assert lets_out(policy, attache, Address("10.20.1.7"), 6379)
    assert not lets_out(policy, attache, Address("10.20.0.7"), 6379)
    assert not lets_out(policy, attache, Address("10.20.0.7"), 22)

    fleet, fleet_pod, _ = fence(render(helm_render, FLEET_SCENARIO))
    database = Pod("databases", {"cnpg.io/cluster": "attache", "role": "primary"})
    assert lets_out(fleet, fleet_pod, database, 5432)
    assert not lets_out(fleet, fleet_pod, Pod("databases", {"cnpg.io/cluster": "billing"}), 5432)
    assert lets_out(fleet, fleet_pod, Pod("newsroom", {"app.kubernetes.io/name": "valkey"}), 6379)
    assert lets_out(fleet, fleet_pod, Address("10.90.4.17"), 443), "the provider narrowed to its private endpoint"
    assert not lets_out(fleet, fleet_pod, Address("162.159.140.245"), 443)

    single = with_values(tmp_path, KEYS, {"networkPolicy": {"enabled": True}})
    alone, alone_pod, _ = fence(render(helm_render, single))
    assert not lets_out(alone, alone_pod, Address("10.20.0.7"), 5432), "no database port without PostgreSQL"
    assert not lets_out(alone, alone_pod, Address("10.20.1.7"), 6379), "no Redis port without Redis"


# Autoscaling on what bounds a pod.


def test_the_hpa_scales_on_in_flight_assessments_with_cpu_as_the_fallback(helm_render: Path, tmp_path: Path) -> None:
    hpa = one(render(helm_render, PRODUCTION), "HorizontalPodAutoscaler")
    by_type = {metric["type"]: metric for metric in hpa["spec"]["metrics"]}
    assert by_type["Pods"]["pods"] == {
        "metric": {"name": "attache_assessments_in_flight"},
        "target": {"type": "AverageValue", "averageValue": "512"},  # 50 % of 4 workers x 256
    }
    assert by_type["Resource"]["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70},
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)

    smaller = {"attache": {"workers": 2, "maxInflight": 64}, "autoscaling": {"inFlight": {"targetPercentOfBound": 75}}}
    hpa = one(render(helm_render, with_values(tmp_path, FLEET, {"autoscaling": {"enabled": True}}, smaller)),
              "HorizontalPodAutoscaler")  # fmt: skip
    assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "96"  # 75 % of 2 x 64

    cpu_only = with_values(tmp_path, FLEET, {"autoscaling": {"enabled": True, "inFlight": {"enabled": False}}})
    assert [m["type"] for m in one(render(helm_render, cpu_only), "HorizontalPodAutoscaler")["spec"]["metrics"]] == [
        "Resource"
    ]


# The production example: consistent with itself and with what was measured.

# `make bench-memory` on 2 cores (see helm/ci/production-values.yaml): MiB of RSS.
LAUNCHER_MIB, RESOURCE_TRACKER_MIB, WORKER_AT_BOUND_MIB, HEADROOM = 87, 12, 191, 1.25


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity)
    assert match, f"{quantity}: not a binary-unit quantity"
    return int(match[1]) * units[match[2]]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_the_memory_limit_fits_the_worker_count(helm_render: Path, scenario: Path) -> None:
    container = server(render(helm_render, scenario))
    workers = int(container["args"][container["args"].index("--workers") + 1])
    pod = WORKER_AT_BOUND_MIB if workers == 1 else LAUNCHER_MIB + RESOURCE_TRACKER_MIB + workers * WORKER_AT_BOUND_MIB
    limit = mebibytes(container["resources"]["limits"]["memory"])
    assert limit >= pod * HEADROOM, f"{workers} workers need {pod * HEADROOM:.0f} MiB; the limit is {limit:.0f}"


def test_production_scenario_objects(helm_render: Path) -> None:
    documents = render(helm_render, PRODUCTION)
    kinds = {doc["kind"] for doc in documents}
    assert {"Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "ServiceMonitor", "PrometheusRule", "NetworkPolicy", "ConfigMap", "Pod", "Job"} <= kinds  # fmt: skip
    assert "Secret" not in kinds, "every secret comes from an existing Secret"
    rules = yaml.safe_load((CHART / "files" / "attache.rules.yaml").read_text())
    assert one(documents, "PrometheusRule")["spec"] == rules, "the PrometheusRule is the tested rules file"
    container = server(documents)
    env = env_of(container)
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "attache-openai"
    assert "ATTACHE_API_KEYS" not in env, "a path is never passed where a literal list is read"
    assert env["ATTACHE_API_KEYS_FILE"]["value"] == "/var/run/secrets/attache/api-keys"
    volumes = {v["name"]: v for v in one(documents, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    # Only the named key is projected: a Secret without it fails the pod instead of running open.
    assert volumes["client-keys"]["secret"]["items"] == [{"key": "api-keys", "path": "api-keys"}]
    assert container["args"] == ["serve", "--workers", "4"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "cpu" not in container["resources"]["limits"], "no CPU throttling of workers holding assessments"


def test_config_changes_roll_the_pods(helm_render: Path, tmp_path: Path) -> None:
    def checksum(*layers: dict[str, Any]) -> str:
        deployment = one(render(helm_render, with_values(tmp_path, KEYS, *layers)), "Deployment")
        annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/secret"]

    assert checksum({"provider": {"apiKey": "sk-first"}}) != checksum({"provider": {"apiKey": "sk-second"}})
    first, second = "a" * 32, "b" * 32
    assert checksum({"callerSecret": {"value": first}}) != checksum({"callerSecret": {"value": second}})


# The rendered pods, run: the Job's and the Deployment's own command and environment, on a real
# PostgreSQL and Redis, as far as a machine without a cluster can take them.

# What the Dockerfile's ENV gives every container of the image.
IMAGE_ENV = {"ATTACHE_HOST": "0.0.0.0", "ATTACHE_PORT": "8000", "PROMETHEUS_MULTIPROC_DIR": "/tmp/prometheus",  # noqa: S104
             "ATTACHE_CACHE_DIR": "/app/cache"}  # fmt: skip


# Folders the service writes into, so they must be on an emptyDir.
WRITTEN = ("ATTACHE_DATA_DIR", "PROMETHEUS_MULTIPROC_DIR")
EMPTY_DIR = ".emptyDir"


class PodSandbox:
    """A rendered pod's volumes as folders under `root`, its Secrets from `secrets`."""

    def __init__(self, root: Path, secrets: dict[tuple[str, str], str], documents: list[dict[str, Any]]) -> None:
        self.root = root
        self.secrets = dict(secrets)
        for doc in documents:  # the Secrets the chart itself makes
            if doc["kind"] == "Secret":
                for key, value in doc.get("data", {}).items():
                    self.secrets[(doc["metadata"]["name"], key)] = base64.b64decode(value).decode()

    def secret(self, name: str, key: str) -> str:
        assert (name, key) in self.secrets, f"the pod reads Secret {name}/{key}, which nothing provides"
        return self.secrets[(name, key)]

    def environment(self, pod: dict[str, Any], container: dict[str, Any], **moved: str) -> dict[str, str]:
        """The container's environment here: `moved` gives settings the chart set new values (free ports)."""
        paths = self.mount(pod, container)
        env = {"PATH": os.environ["PATH"], "HOME": str(self.root), **IMAGE_ENV, "ATTACHE_HOST": "127.0.0.1"}
        for entry in container["env"]:
            if "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                env[entry["name"]] = self.secret(ref["name"], ref["key"])
            else:
                env[entry["name"]] = entry["value"]
        for name, value in moved.items():
            assert name in env, f"the chart does not set {name}"
            env[name] = value
        for name in WRITTEN:  # the root filesystem is read-only (and this test may run as root)
            writable = [inside for inside, volume in paths.items() if volume.endswith(EMPTY_DIR)]
            assert any(env[name].startswith(inside + "/") or env[name] == inside for inside in writable), (
                f"{name}={env[name]} is not on a writable volume"
            )
        for name, value in env.items():  # paths inside the container → their folders here
            for inside, outside in paths.items():
                if value == inside or value.startswith(inside + "/"):
                    env[name] = outside + value[len(inside) :]
        return env

    def mount(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        """Each volume mount as a folder here: mount path → folder (emptyDirs end in EMPTY_DIR)."""
        volumes = {v["name"]: v for v in pod["volumes"]}
        paths = {}
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            assert "secret" in volume or "emptyDir" in volume, volume
            folder = self.root / container["name"] / (mount["name"] + ("" if "secret" in volume else EMPTY_DIR))
            folder.mkdir(parents=True, exist_ok=True)
            for item in volume.get("secret", {}).get("items", []):
                (folder / item["path"]).write_text(self.secret(volume["secret"]["secretName"], item["key"]))
            paths[mount["mountPath"]] = str(folder)
        return paths


@pytest.mark.parametrize(
    ("scenario", "backend"),
    [(FLEET_SCENARIO, "postgresql"), (CHART / "ci" / "default-values.yaml", "sqlite")],
    ids=["fleet", "default"],
)
def test_the_rendered_job_and_pod_run_the_real_service(
    helm_render: Path, tmp_path: Path, postgres: Any, scenario: Path, backend: str
) -> None:
    from tools.servers import RedisServer

    redis = RedisServer()
    redis.start()
    try:
        two_workers = {"attache": {"workers": 2}} if backend == "postgresql" else {}  # production's path: a launcher
        documents = render(helm_render, with_values(tmp_path, yaml.safe_load(scenario.read_text()), two_workers))
        keys = {("attache-postgresql", "database-url"): postgres.database(), ("attache-redis", "redis-url"): redis.url,
                ("attache-client-keys", "api-keys"): "ck-newsroom-0123456789abcdef0123456789\n"}  # fmt: skip
        sandbox = PodSandbox(tmp_path / "pod", keys, documents)
        for job in [doc["spec"]["template"]["spec"] for doc in documents if doc["kind"] == "Job"]:
            (migrate,) = job["containers"]
            migrated = subprocess.run([ATTACHE, *migrate["args"]], env=sandbox.environment(job, migrate),
                                      capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
            assert migrated.returncode == 0, migrated.stderr
            assert "is at migration" in migrated.stdout

        pod = one(documents, "Deployment")["spec"]["template"]["spec"]
        container = server(documents)
        port, metrics_port = free_port(), free_port()  # the container's 8000 and 9100, here on loopback
        env = sandbox.environment(pod, container, ATTACHE_METRICS_PORT=str(metrics_port))
        env["ATTACHE_PORT"] = str(port)  # the image's ENV, not the chart's
        log = tmp_path / "serve.log"
        with log.open("w") as out:
            # Its own process group: on failure the workers go with the launcher, never orphaned.
            process = subprocess.Popen([ATTACHE, *container["args"]], env=env, stdout=out, stderr=out,
                                       start_new_session=True)  # fmt: skip
        try:
            api = f"http://127.0.0.1:{port}"
            wait_until_up(f"{api}/health/ready", logs=[log], procs=[process], seconds=120)
            with urllib.request.urlopen(f"{api}/health/ready", timeout=10) as response:
                store = json.load(response)["store"]
            assert (store["backend"], store["available"]) == (backend, True), store
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
                assert b"attache_build_info" in response.read(), "/metrics on the metrics port"
            assert status(f"{api}/metrics") == 404, "and not on the API port"
            assert status(f"{api}/agents") == 401, "the keys are in force"
            assert status(f"{api}/agents", "ck-newsroom-0123456789abcdef0123456789") == 200
            if "ATTACHE_ADMIN_KEYS_FILE" in env:
                assert status(f"{api}/agents", "ak-oncall-0123456789abcdef0123456789ab") == 200
            process.send_signal(signal.SIGTERM)
            # SIGTERM comes after the preStop pause; the kubelet's deadline allows the rest.
            pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
            process.wait(timeout=pod["terminationGracePeriodSeconds"] - pause)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    finally:
        redis.close()


def status(url: str, key: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return error.code
