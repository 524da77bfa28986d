"""The Helm chart, rendered by Helm's own engine (helm-python-sdk), validated against the
Kubernetes OpenAPI schemas (kubernetes-validate), and its RBAC held to what the controller
really calls."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from meshlab.kubeapi.validation import SchemaChecker

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "rollout"
KUBE_VERSION = "1.33.0"

OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"rbac": {"namespaced": True}, "watchNamespaces": ["shop", "payments"]},
    "watch-two-namespaces": {"watchNamespaces": ["shop", "payments"]},
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"a": "b"}}}},
    "network-policy": {"networkPolicy": {"enabled": True}},
    "network-policy-own-scraper": {
        "prometheus": {"url": "https://prometheus.monitoring.svc"},
        "networkPolicy": {
            "enabled": True,
            "prometheusNamespace": "monitoring",
            "prometheusPort": 9090,
            "metricsIngress": {"namespace": "observability", "podLabels": {"app": "scraper"}},
        },
    },
    "dashboard": {"grafanaDashboard": {"enabled": True}},
    "slack": {"slack": {"secretName": "slack-token"}},
    "slack-interactive": {
        "slack": {"interactive": {"enabled": True, "allowedUsers": {"shop": ["U012ABCDEF"]}}},
        "networkPolicy": {"enabled": True},
    },
    "notifications-policy": {
        "notifications": {
            "policy": {"team-a": {"slackChannels": ["#team-a"], "slackKeys": ["slack-token/bot"]}}
        }
    },
    "sharded": {"replicaCount": 3, "sharding": {"enabled": True, "shards": 6}},
    "single-replica": {
        "replicaCount": 1,
        "leaderElection": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every manifest the chart renders with ``values``, as dicts."""
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="meshrollout", namespace="meshrollout")
    docs = []
    for name, text in files.items():
        if name.endswith(".txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


@pytest.mark.parametrize("values", OPTIONS.values(), ids=OPTIONS.keys())
def test_every_manifest_is_valid_kubernetes(values: dict[str, Any]) -> None:
    """Each rendered manifest passes the Kubernetes schemas (strict: no unknown fields)."""
    docs = render(values)
    assert docs
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            continue  # checked against the Service below: no operator CRD schema offline
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_the_crd_is_valid_and_accepts_the_readme_example() -> None:
    """The generated CRD is a valid CustomResourceDefinition and admits the README's Rollout."""
    crd = yaml.safe_load((CHART / "crds" / "rollouts.meshrollout.dev.yaml").read_text())
    kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"```yaml\n(apiVersion: meshrollout.dev.*?)```", readme, re.S)
    assert found is not None, "the README shows no Rollout example"
    example = yaml.safe_load(found.group(1))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    admitted, causes = SchemaChecker(schema).admit(example)
    assert causes == []
    assert admitted["spec"]["strategy"]["steps"] == [5, 25, 50, 100]


def test_service_monitor_scrapes_the_metrics_service() -> None:
    """The ServiceMonitor selects the metrics Service and names its port."""
    docs = render(OPTIONS["service-monitor"])
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    service = next(d for d in docs if d["kind"] == "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {
        p["name"] for p in service["spec"]["ports"]
    }


def test_the_pod_is_locked_down() -> None:
    """Non-root, read-only root, no escalation, no capabilities, seccomp, spread, probes."""
    deployment = next(d for d in render({}) if d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert (sc["readOnlyRootFilesystem"], sc["allowPrivilegeEscalation"]) == (True, False)
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert "--lease-name=meshrollout-leader" in container["args"]


def test_the_dashboard_is_grafana_json() -> None:
    """The dashboard ConfigMap holds Grafana JSON over the controller's own series."""
    import json

    config_map = next(d for d in render(OPTIONS["dashboard"]) if d["kind"] == "ConfigMap")
    dashboard = json.loads(config_map["data"]["meshrollout.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for series in (
        "meshrollout_rollouts",
        "meshrollout_canary_weight",
        "meshrollout_rollbacks",
        "meshrollout_verdicts",
        "meshrollout_reconcile_duration_seconds",
    ):
        assert series in exprs


@pytest.mark.parametrize(
    ("values", "words"),
    [
        pytest.param({"replicaCount": -1}, "minimum", id="negative-replicas"),
        pytest.param({"replicaCount": "two"}, "replicaCount", id="wrong-type"),
        pytest.param({"replicas": 2}, "replicas", id="unknown-key"),
        pytest.param({"image": {"tag": 3}}, "tag", id="nested-wrong-type"),
        pytest.param({"logLevel": "loud"}, "logLevel", id="bad-enum"),
        pytest.param({"prometheus": {"url": "prometheus:9090"}}, "url", id="url-without-scheme"),
        pytest.param({"watchNamespaces": ["Shop"]}, "watchNamespaces", id="bad-namespace"),
        pytest.param({"metrics": {"port": 70000}}, "port", id="port-out-of-range"),
        pytest.param(
            {"networkPolicy": {"prometheusPort": 0}}, "prometheusPort", id="prometheus-port-zero"
        ),
        pytest.param(
            {"networkPolicy": {"metricsIngress": {"namespace": "Monitoring"}}},
            "namespace",
            id="scraper-namespace-not-a-name",
        ),
        pytest.param(
            {"networkPolicy": {"metricsIngress": {"podLabels": {"app": "a b"}}}},
            "podLabels",
            id="scraper-label-not-a-label",
        ),
        pytest.param(
            {"networkPolicy": {"metricsIngress": {"everyone": True}}},
            "everyone",
            id="scraper-unknown-key",
        ),
        pytest.param({"networkPolicy": {"slackCIDR": "anywhere"}}, "slackCIDR", id="bad-cidr"),
        pytest.param(
            {"podDisruptionBudget": {"minAvailable": "100%"}}, "minAvailable", id="pdb-all-pods"
        ),
        pytest.param(
            {"notifications": {"policy": {"Team_A": {}}}}, "Team_A", id="policy-bad-namespace"
        ),
        pytest.param(
            {"notifications": {"policy": {"a": {"slackKeys": ["bad key"]}}}},
            "slackKeys",
            id="policy-bad-key",
        ),
        pytest.param(
            {"notifications": {"policy": {"a": {"channels": []}}}}, "channels", id="policy-typo"
        ),
    ],
)
def test_values_schema_rejects_bad_values(values: dict[str, Any], words: str) -> None:
    """values.schema.json refuses wrong types, unknown keys and out-of-range numbers."""
    with pytest.raises(helm.HelmValuesError, match=words):
        render(values)


def network_policy(values: dict[str, Any]) -> dict[str, Any]:
    """The rendered NetworkPolicy, validated against the Kubernetes schema."""
    (policy,) = [d for d in render(values) if d["kind"] == "NetworkPolicy"]
    kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)
    return policy


@pytest.mark.parametrize(
    ("scraper", "peer"),
    [
        pytest.param(
            {},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}},
            id="the-prometheus-namespace",
        ),
        pytest.param(
            {"namespace": "monitoring", "podLabels": {"app.kubernetes.io/name": "prometheus"}},
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            },
            id="another-namespace-and-pods",
        ),
    ],
)
def test_metrics_port_is_open_to_the_scraper_only(
    scraper: dict[str, Any], peer: dict[str, Any]
) -> None:
    """The NetworkPolicy admits the metrics port from one namespace (and pods, if given),
    never from every namespace: one ingress rule, one peer, selectors in the same peer."""
    policy = network_policy({"networkPolicy": {"enabled": True, "metricsIngress": scraper}})
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [peer]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("url", "port", "expected"),
    [
        pytest.param("http://prometheus.istio-system:9090", None, 9090, id="url-port"),
        pytest.param("http://prometheus.monitoring:9091/prom", None, 9091, id="other-url-port"),
        pytest.param("http://prometheus-server.monitoring", None, 80, id="http-default"),
        pytest.param("https://prometheus.example", None, 443, id="https-default"),
        pytest.param("http://prometheus-server.monitoring", 9090, 9090, id="explicit-pod-port"),
    ],
)
def test_prometheus_egress_follows_the_configured_port(
    url: str, port: int | None, expected: int
) -> None:
    """Egress to Prometheus opens the port of prometheus.url, or networkPolicy.prometheusPort
    when set (a Service port that differs from the pods' port), never a fixed 9090."""
    values = {
        "prometheus": {"url": url},
        "networkPolicy": {"enabled": True, "prometheusPort": port},
    }
    egress = network_policy(values)["spec"]["egress"]
    name = "kubernetes.io/metadata.name"
    (rule,) = [
        r
        for r in egress
        if (r["to"][0].get("namespaceSelector") or {}).get("matchLabels", {}).get(name)
        == "istio-system"
    ]
    assert rule["ports"] == [{"port": expected, "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("replicas", "min_available", "rendered"),
    [
        pytest.param(1, 1, False, id="one-replica-no-pdb"),
        pytest.param(2, 1, True, id="two-replicas"),
        pytest.param(3, "50%", True, id="percentage"),
    ],
)
def test_pdb_never_blocks_a_drain(replicas: int, min_available: int | str, rendered: bool) -> None:
    """A PodDisruptionBudget only with more than one replica, valid Kubernetes when rendered."""
    values = {"replicaCount": replicas, "podDisruptionBudget": {"minAvailable": min_available}}
    pdbs = [d for d in render(values) if d["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == int(rendered)
    for pdb in pdbs:
        kubernetes_validate.validate(pdb, KUBE_VERSION, strict=True)
        assert pdb["spec"]["minAvailable"] == min_available


def test_pdb_as_large_as_the_replicas_is_refused() -> None:
    """minAvailable equal to replicaCount would block every drain: the chart refuses it,
    naming both values."""
    values = {"replicaCount": 2, "podDisruptionBudget": {"minAvailable": 2}}
    with pytest.raises(
        helm.HelmRenderError, match=r"podDisruptionBudget.minAvailable \(2\).*replicaCount"
    ):
        render(values)


def test_namespaced_rbac_reads_the_mesh_wide_peer_authentication_only() -> None:
    """With a Role per namespace, the mTLS preflight may still list PeerAuthentications in
    Istio's root namespace, and may do nothing else there; an empty value grants nothing."""
    values: dict[str, Any] = {**OPTIONS["namespaced"]}
    in_root = [d for d in render(values) if d["metadata"].get("namespace") == "istio-system"]
    assert {d["kind"] for d in in_root} == {"Role", "RoleBinding"}
    assert granted(in_root) == {("security.istio.io", "peerauthentications", "list")}
    values["rbac"] = {"namespaced": True, "meshRootNamespace": ""}
    assert not [d for d in render(values) if d["metadata"].get("namespace") == "istio-system"]


def test_readme_install_command_matches_the_chart() -> None:
    """The README's `helm install` line renders: every --set it shows is a real value."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"helm install (.*?)\n(?!\s)", readme.replace("\\\n", " "), re.S)
    assert command is not None, "the README shows no helm install"
    values: dict[str, Any] = {}
    for key, value in re.findall(r"--set\s+([\w.]+)=(\S+)", command.group(1)):
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = int(value) if value.isdigit() else value
    assert values, "the README's helm install sets nothing"
    assert render(values)


def granted(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    rules = [r for d in docs if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]
    return {
        (g, res, verb)
        for r in rules
        for g in r["apiGroups"]
        for res in r["resources"]
        for verb in r["verbs"]
    }


def test_sharding_switch_passes_the_shards_and_grants_their_leases_only() -> None:
    """sharding.enabled: the controller gets --shards and the lease flags, and may get and
    update exactly the shard Leases and the members Lease (no other Lease); off (the
    default), one leader's Lease only."""

    def args_and_names(values: dict[str, Any]) -> tuple[list[str], list[str]]:
        docs = render(values)
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        roles = [d for d in docs if d["kind"] == "Role"]
        role = next(d for d in roles if d["metadata"]["name"].endswith("self"))
        rule = next(r for r in role["rules"] if r.get("resourceNames"))
        return args, rule["resourceNames"]

    args, names = args_and_names(OPTIONS["sharded"])
    assert "--shards=6" in args
    assert "--lease-name=meshrollout-leader" in args
    shards = [f"meshrollout-leader-shard-{i}" for i in range(6)]
    assert names == ["meshrollout-leader", "meshrollout-leader-members", *shards]
    args, names = args_and_names({})
    assert not any(a.startswith("--shards") for a in args)
    assert names == ["meshrollout-leader"]


def test_rbac_has_no_wildcards() -> None:
    """Every rule names its groups, resources and verbs."""
    for values in OPTIONS.values():
        for group, resource, verb in granted(render(values)):
            assert "*" not in (group, resource, verb)


@pytest.fixture(scope="module")
def controller_calls() -> set[tuple[str, str, str]]:
    """Run the controller against the emulator through a whole rollout and a rollback,
    with reads audited too; yield the (group, resource, verb) it used."""
    from tests.integration.rbac_run import run_controller_and_record

    return run_controller_and_record()


def test_rbac_grants_exactly_what_the_controller_uses(
    controller_calls: set[tuple[str, str, str]],
) -> None:
    """A verb the adapter starts using without a grant fails this test, and so does a
    grant nobody uses (the Slack Secret is granted only when configured)."""
    from rollout.kube.resources import CALLS

    assert controller_calls == CALLS, "rollout/kube/resources.py CALLS is out of date"
    for values in (OPTIONS["defaults"], OPTIONS["namespaced"]):
        assert granted(render(values)) == controller_calls


def policy_env(values: dict[str, Any]) -> str:
    deployment = next(d for d in render(values) if d["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return str(next(e["value"] for e in env if e["name"] == "ROLLOUT_NOTIFICATIONS_POLICY"))


def test_the_notification_policy_reaches_the_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    """notifications.policy is passed as ROLLOUT_NOTIFICATIONS_POLICY; the default is the
    controller's own default, and a platform team's entry (and a removed '*') arrive."""
    from rollout.controller.settings import Settings
    from rollout.notify import DEFAULT_POLICY

    monkeypatch.setenv("ROLLOUT_NOTIFICATIONS_POLICY", policy_env({}))
    assert Settings().notifications_policy == DEFAULT_POLICY
    policy = {"*": None, "team-a": {"slackChannels": ["#team-a"], "slackKeys": ["bot"]}}
    monkeypatch.setenv(
        "ROLLOUT_NOTIFICATIONS_POLICY", policy_env({"notifications": {"policy": policy}})
    )
    rules = Settings().notifications_policy
    assert rules.rules("team-a").slack_channels == ["#team-a"]
    assert rules.rules("team-b").slack_keys == [], "'*' removed: other namespaces get nothing"


def test_namespaces_are_readable_by_name_where_the_chart_watches() -> None:
    """The ambient preflight's Namespace read: a ClusterRole (no Role can grant a
    cluster-scoped read) with get on the watched Namespaces by name, or on all when the
    chart watches all; nothing else about Namespaces."""

    def names(values: dict[str, Any]) -> list[list[str] | None]:
        docs = render(values)
        rules = [r for d in docs if d["kind"] == "ClusterRole" for r in d["rules"]]
        ours = [r for r in rules if "namespaces" in r["resources"]]
        assert all(r["verbs"] == ["get"] and r["resources"] == ["namespaces"] for r in ours)
        roles = [d for d in docs if d["kind"] == "Role" for r in d["rules"]]
        assert not [r for d in roles for r in d["rules"] if "namespaces" in r["resources"]]
        return [r.get("resourceNames") for r in ours]

    assert names(OPTIONS["defaults"]) == [None]
    assert names(OPTIONS["namespaced"]) == [["shop", "payments"]]
    assert names(OPTIONS["watch-two-namespaces"]) == [["shop", "payments"]]
    bindings = [d for d in render(OPTIONS["namespaced"]) if d["kind"] == "ClusterRoleBinding"]
    assert [b["roleRef"]["name"] for b in bindings] == ["meshrollout-namespaces"]
