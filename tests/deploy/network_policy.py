"""What a rendered NetworkPolicy lets through, decided by the rules of the Kubernetes API.

No cluster is reachable here, so tests ask this instead: "may this pod connect to that port
of ours?", "may ours connect to that address?". It implements the parts of NetworkPolicy the
chart uses — ports by number or by the container port's name, peers by podSelector,
namespaceSelector (matchLabels), both together, or ipBlock (with except) — and refuses
anything else (matchExpressions, endPort) rather than guess. A missing or empty `from`/`to`
admits every peer, as in Kubernetes.

    https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every namespace carries its own name as a label (Kubernetes 1.22+).
        self.namespace_labels.setdefault("kubernetes.io/metadata.name", self.namespace)


@dataclass(frozen=True)
class Address:
    ip: str


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"not modelled: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], other: Pod | Address, policy_namespace: str) -> bool:
    assert set(peer) <= {"podSelector", "namespaceSelector", "ipBlock"}, f"not modelled: {peer}"
    if "ipBlock" in peer:
        if not isinstance(other, Address):
            return False  # cluster pods are matched by selectors here, as the docs advise
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(c) for c in block.get("except", []))
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False  # a podSelector alone means the policy's own namespace
    return _matches(peer.get("podSelector", {}), other.labels)


def _port_matches(rule_ports: list[dict[str, Any]] | None, port: int, protocol: str, names: dict[str, int]) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        assert "endPort" not in entry, "not modelled: endPort"
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None or (names.get(wanted) if isinstance(wanted, str) else wanted) == port:
            return True
    return False


def _selects(policy: dict[str, Any], pod: Pod) -> bool:
    return policy["metadata"].get("namespace", pod.namespace) == pod.namespace and _matches(
        policy["spec"]["podSelector"], pod.labels
    )


def container_ports(deployment: dict[str, Any]) -> dict[str, int]:
    """Named container ports of a Deployment's pods: what `port: http` in a policy means."""
    ports = {}
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def admits(policy: dict[str, Any], source: Pod, target: Pod, port: int, ports: dict[str, int]) -> bool:
    """Whether `policy` lets `source` open a connection to `port` of `target` (one of its pods)."""
    assert _selects(policy, target), "the target is not one of the policy's pods"
    if "Ingress" not in policy["spec"]["policyTypes"]:
        return True
    return any(
        _port_matches(rule.get("ports"), port, "TCP", ports)
        and (not rule.get("from") or any(_peer_matches(p, source, target.namespace) for p in rule["from"]))
        for rule in policy["spec"].get("ingress", [])
    )


def lets_out(policy: dict[str, Any], source: Pod, target: Pod | Address, port: int, protocol: str = "TCP") -> bool:
    """Whether `policy` lets `source` (one of its pods) connect to `port` of `target`."""
    assert _selects(policy, source), "the source is not one of the policy's pods"
    if "Egress" not in policy["spec"]["policyTypes"]:
        return True
    return any(
        _port_matches(rule.get("ports"), port, protocol, {})
        and (not rule.get("to") or any(_peer_matches(p, target, source.namespace) for p in rule["to"]))
        for rule in policy["spec"].get("egress", [])
    )
