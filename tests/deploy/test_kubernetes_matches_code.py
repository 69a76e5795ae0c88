"""The Kubernetes manifests say what the code does: settings, ports, probes, drain, commands, references.

Every DRIFTGATE_* variable is a field of driftgate.settings.Settings (walked through its nested models)
and its value parses there; container ports are the ports those settings make the process listen on;
every gRPC probe asks the port that serves grpc.health.v1 for a service name that a real gateway or
registry reports SERVING; the termination grace period covers preStop, the gateway's drain and its
last report; the container's arguments parse with the driftgate CLI; Services, the autoscaler, the
disruption budgets, the ServiceMonitor and the GRPCRoute point at things that exist.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel

from driftgate.cli.main import build_parser
from driftgate.proto.inference import grpc_service_pb2
from driftgate.proto.v1 import control_pb2
from driftgate.settings import Settings
from tests.conftest import Served
from tests.deploy.manifests import ROOT, Doc, by_kind, containers, kustomizations, named, pod_spec, render

TREES = kustomizations()
INFERENCE_SERVICE = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
CONTROL_SERVICE = control_pb2.DESCRIPTOR.services_by_name["Control"].full_name
REPORT_FLUSH_S = 2.0  # GatewayServer.stop: the last report (with the scored rows held) waits at most 2 s
REGISTRY_STOP_S = 5.0  # driftgate/cli/registry_cmd.py STOP_GRACE_S
ENV_PREFIX = "DRIFTGATE_"


def rendered() -> list[tuple[str, list[Doc]]]:
    return [(tree.name, render(tree)) for tree in TREES]


CASES = rendered()
IDS = [name for name, _ in CASES]


def _workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if pod_spec(d) is not None]


def _env(container: Doc) -> dict[str, str]:
    """The container's DRIFTGATE_* variables; values from Secrets and the downward API as placeholders."""
    out = {}
    for var in container.get("env", []):
        if var["name"].startswith(ENV_PREFIX):
            out[var["name"]] = var["value"] if "value" in var else "from-" + next(iter(var["valueFrom"]))
    return out


def _field(model: type[BaseModel], path: list[str], name: str) -> None:
    key, rest = path[0], path[1:]
    fields = model.model_fields
    assert key in fields, f"{name}: {key!r} is not a setting of {model.__name__} (driftgate/settings.py)"
    annotation = fields[key].annotation
    nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    if rest:
        assert nested, f"{name}: {key!r} is a value, not a group of settings"
        _field(annotation, rest, name)  # type: ignore[arg-type]
    else:
        assert not nested, f"{name}: {key!r} is a group; name one of its settings"


def settings_of(container: Doc, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in _env(container).items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_env_names_are_settings(tree: str, docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    seen = 0
    for doc in _workloads(docs):
        for container in containers(doc):
            for name in _env(container):
                path = name.removeprefix(ENV_PREFIX).lower().split("__")
                _field(Settings, path, name)
                seen += 1
            settings_of(container, monkeypatch)  # every value parses (types, bounds)
    assert seen


def _cli(container: Doc) -> Any:
    """The container's command line as the driftgate CLI parses it (the image's ENTRYPOINT + args)."""
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])", (ROOT / "Dockerfile").read_text(), re.M)
    assert entrypoint is not None
    argv = [*json.loads(entrypoint.group(1)), *container.get("args", [])]
    assert argv[0] == "driftgate" and "command" not in container
    return build_parser().parse_args(argv[1:])


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_ports_and_probes_match_the_settings(tree: str, docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    for doc in _workloads(docs):
        for container in containers(doc):
            args = _cli(container)
            settings = settings_of(container, monkeypatch)
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            if args.command == "gateway":
                port = args.port if args.port is not None else settings.gateway.port
                assert ports == {"grpc": port, "metrics": settings.gateway.metrics_port}
                assert settings.gateway.host == "0.0.0.0", "a pod's gateway listens on every address"
                ready_service = INFERENCE_SERVICE
            elif args.command == "registry":
                port = args.port if args.port is not None else settings.registry.port
                assert ports == {"grpc": port}
                assert settings.registry.host == "0.0.0.0"
                ready_service = CONTROL_SERVICE
            else:
                raise AssertionError(f"{doc['metadata']['name']}: unexpected command {args.command}")
            # health (grpc.health.v1) is served on the same gRPC server as the service itself
            for probe in ("readinessProbe", "startupProbe", "livenessProbe"):
                grpc_probe = container[probe]["grpc"]
                assert grpc_probe["port"] == port, f"{probe} asks port {grpc_probe['port']}, health is on {port}"
            assert container["readinessProbe"]["grpc"]["service"] == ready_service
            assert container["startupProbe"]["grpc"]["service"] == ready_service
            assert container["livenessProbe"]["grpc"].get("service", "") == ""


TLS_SECRET_KEYS = {"tls.crt", "tls.key", "ca.crt"}  # a kubernetes.io/tls Secret as cert-manager writes it


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_tls_files_come_from_mounted_tls_secrets_and_probes_speak_tls(
    tree: str, docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every DRIFTGATE_TLS__* path is a key of a kubernetes.io/tls Secret mounted read-only at its folder;
    a server with a certificate is probed over TLS, and requires no client certificate (kubelet has none)."""
    for doc in _workloads(docs):
        spec = pod_spec(doc)
        assert spec is not None
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(doc):
            tls = settings_of(container, monkeypatch).tls
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            for name in ("cert", "key", "client_ca", "ca"):
                path = getattr(tls, name)
                if path is None:
                    continue
                mount = mounts.get(str(path.parent))
                assert mount is not None and mount.get("readOnly"), f"{name}: {path} is not on a read-only mount"
                secret = volumes[mount["name"]]["secret"]
                keys = {i["path"]: i["key"] for i in secret.get("items", [])} or {k: k for k in TLS_SECRET_KEYS}
                assert keys.get(path.name) in TLS_SECRET_KEYS, f"{name}: {path.name} is not a key of the Secret"
            serving_tls = tls.cert is not None
            assert (tls.cert is None) == (tls.key is None), "a certificate needs its key"
            assert tls.client_ca is None, "kubelet's probes present no client certificate: no mTLS on probed ports"
            for probe in ("readinessProbe", "startupProbe", "livenessProbe"):
                mode = container[probe]["grpc"].get("mode", "Plaintext")
                assert mode == ("TLS" if serving_tls else "Plaintext"), f"{probe}: {mode} against a {tls}"
            args = _cli(container)
            if args.command == "registry":
                assert settings_of(container, monkeypatch).registry.insecure is not serving_tls
            names = {n for c in by_kind(docs, "Certificate") for n in c["spec"].get("dnsNames", [])}
            if args.command == "gateway" and tls.ca is not None:  # the name it dials is on the certificate
                for address in settings_of(container, monkeypatch).gateway.registry.split(","):
                    assert _on_certificate(address, names), f"{address} is not on any registry certificate"
            if args.command == "registry" and serving_tls:  # the name other replicas dial is on it too
                advertised = _expand(container, settings_of(container, monkeypatch).registry.advertise,
                                     doc["metadata"].get("namespace", "default"))
                assert _on_certificate(advertised, names), f"{advertised} is not on the registry's certificate"


def _on_certificate(address: str, names: set[str]) -> bool:
    host = address.rsplit(":", 1)[0]
    return host in names or any(n.startswith("*.") and host.split(".", 1)[-1] == n[2:] for n in names)


def _expand(container: Doc, value: str, namespace: str) -> str:
    """Kubernetes' $(VAR) expansion with the downward API's values (a pod name as "pod-0")."""
    fields = {"metadata.name": "pod-0", "metadata.namespace": namespace, "status.podIP": "10.0.0.7"}
    env = {}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], var["value"])
        elif "fieldRef" in var.get("valueFrom", {}):
            env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_references_to_other_variables_are_defined_first(tree: str, docs: list[Doc]) -> None:
    """$(VAR) in a value expands only when VAR is defined earlier in the list (else it stays literal)."""
    for doc in _workloads(docs):
        for container in containers(doc):
            seen: set[str] = set()
            for var in container.get("env", []):
                for ref in re.findall(r"\$\((\w+)\)", var.get("value", "")):
                    assert ref in seen, f"{var['name']} uses $({ref}) before it is defined"
                seen.add(var["name"])


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_termination_grace_covers_the_drain(tree: str, docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    for doc in _workloads(docs):
        spec = pod_spec(doc)
        assert spec is not None
        for container in containers(doc):
            args = _cli(container)
            pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            if args.command == "gateway":
                grace = settings_of(container, monkeypatch).gateway.shutdown_grace_s
                assert pre_stop >= 1, "the gateway needs a preStop pause so balancers stop sending first"
                assert spec["terminationGracePeriodSeconds"] > pre_stop + grace + REPORT_FLUSH_S
            else:
                assert spec["terminationGracePeriodSeconds"] > pre_stop + REGISTRY_STOP_S


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_pods_run_as_the_images_user(tree: str, docs: list[Doc]) -> None:
    uid = int(re.search(r"^ARG UID=(\d+)", (ROOT / "Dockerfile").read_text(), re.M).group(1))  # type: ignore[union-attr]
    for doc in _workloads(docs):
        spec = pod_spec(doc)
        assert spec is not None
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        for container in containers(doc):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/var/lib/driftgate", "/tmp"} <= mounts, "the home and /tmp must be writable"
            assert _cli(container).home == Path("/var/lib/driftgate")


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_references_resolve(tree: str, docs: list[Doc]) -> None:
    workloads = _workloads(docs)

    def pods_selected(selector: dict[str, str]) -> list[Doc]:
        return [w for w in workloads if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]

    for service in by_kind(docs, "Service"):
        pods = pods_selected(service["spec"]["selector"])
        assert pods, f"Service {service['metadata']['name']} selects no pods"
        for port in service["spec"]["ports"]:
            for pod in pods:
                names = {p["name"] for c in containers(pod) for p in c["ports"]}
                assert port["targetPort"] in names, f"{service['metadata']['name']}: no container port {port}"
    for deployment in by_kind(docs, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        for constraint in pod_spec(deployment).get("topologySpreadConstraints", []):  # type: ignore[union-attr]
            assert constraint["labelSelector"]["matchLabels"] == selector
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        target = named(docs, hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"])
        assert hpa["spec"]["minReplicas"] >= 2, "one gateway is no high availability"
        assert target["spec"]["replicas"] >= hpa["spec"]["minReplicas"]
        resources = pod_spec(target)["containers"][0]["resources"]  # type: ignore[index]
        assert "cpu" in resources["requests"], "CPU utilisation is measured against the request"
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        assert pods_selected(pdb["spec"]["selector"]["matchLabels"]), pdb["metadata"]["name"]
    for monitor in by_kind(docs, "ServiceMonitor"):
        services = [s for s in by_kind(docs, "Service")
                    if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        for endpoint in monitor["spec"]["endpoints"]:
            with_port = [s for s in services if endpoint["port"] in {p["name"] for p in s["spec"]["ports"]}]
            assert len(with_port) == 1, f"ServiceMonitor port {endpoint['port']}: {len(with_port)} Services"
    for route in by_kind(docs, "GRPCRoute"):
        for rule in route["spec"]["rules"]:
            for match in rule["matches"]:
                assert match["method"]["service"] == INFERENCE_SERVICE
            for ref in rule["backendRefs"]:
                service = named(docs, "Service", ref["name"])
                assert ref["port"] in {p["port"] for p in service["spec"]["ports"]}
                port = next(p for p in service["spec"]["ports"] if p["port"] == ref["port"])
                assert port.get("appProtocol") == "kubernetes.io/h2c", "the gateway speaks HTTP/2 without TLS"
    registry = named(docs, "Deployment", "driftgate-registry")
    assert registry["spec"]["replicas"] >= 2
    for doc in _workloads(docs):  # a pod's subdomain is a headless Service that selects it (its DNS name)
        subdomain = pod_spec(doc).get("subdomain")  # type: ignore[union-attr]
        if subdomain:
            service = named(docs, "Service", subdomain)
            assert service["spec"]["clusterIP"] == "None"
            assert service["spec"]["selector"].items() <= doc["spec"]["template"]["metadata"]["labels"].items()


SECRET_SETTINGS = {"DRIFTGATE_REGISTRY__DATABASE_URL": "driftgate-registry",
                   "DRIFTGATE_GATEWAY__TOKEN": "driftgate-gateway"}


@pytest.mark.parametrize(("tree", "docs"), CASES, ids=IDS)
def test_secrets_come_from_secrets(tree: str, docs: list[Doc]) -> None:
    """The database URL (with its password) and the gateway's token are read from Secrets, never written
    into a manifest, and each workload that needs one has it."""
    for setting, workload in SECRET_SETTINGS.items():
        (var,) = [v for c in containers(named(docs, "Deployment", workload)) for v in c["env"] if v["name"] == setting]
        assert "secretKeyRef" in var.get("valueFrom", {}), f"{setting} must come from a Secret"
    for doc in _workloads(docs):
        for container in containers(doc):
            for var in container.get("env", []):
                if re.search(r"TOKEN|PASSWORD|DATABASE_URL|SECRET", var["name"]):
                    assert "value" not in var, f"{var['name']} is written into the manifest"


def test_overlays_attach_the_route_to_their_gateway() -> None:
    for name, docs in CASES:
        gateways = {d["metadata"]["name"] for d in by_kind(docs, "Gateway")}
        if not gateways:
            continue
        for route in by_kind(docs, "GRPCRoute"):
            assert {p["name"] for p in route["spec"]["parentRefs"]} <= gateways, name
        for gateway in by_kind(docs, "Gateway"):
            for listener in gateway["spec"]["listeners"]:
                for ref in listener.get("tls", {}).get("certificateRefs", []):
                    issued = {c["spec"]["secretName"] for c in by_kind(docs, "Certificate")}
                    assert ref["name"] in issued, f"{name}: no Certificate writes {ref['name']}"


def _health(address: str, service: str) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status)


def test_probed_services_are_serving_on_a_real_gateway_and_registry(served: Served) -> None:
    """The names the probes ask for, asked of a real `driftgate serve` on the ports its gateway and
    registry serve: SERVING, not SERVICE_UNKNOWN (a typo in a probe would keep every pod unready)."""
    _, docs = CASES[0]
    for doc in _workloads(docs):
        for container in containers(doc):
            address = served.gateway if _cli(container).command == "gateway" else served.registry
            for probe in ("readinessProbe", "startupProbe", "livenessProbe"):
                service = container[probe]["grpc"].get("service", "")
                assert _health(address, service) == health_pb2.HealthCheckResponse.SERVING, (probe, service)
