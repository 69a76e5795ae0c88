"""Every manifest under deploy/kubernetes/ is valid Kubernetes, offline.

- Built-in kinds: the API server's own OpenAPI schemas as JSON schemas, shipped by the PyPI package
  kubernetes-validate, strict (unknown fields refused), for the oldest and newest Kubernetes minor
  versions we claim (KUBERNETES_VERSIONS).
- Custom resources: ServiceMonitor (prometheus-operator), Certificate (cert-manager), Gateway and
  GRPCRoute (Gateway API). No PyPI package we could use ships their schemas (the cloudcoil model
  packages do, as pydantic models, but install a pytest plugin that needs filelock and breaks the
  suite's start), so the checks below hold each to the fields, types and enumerations of its CRD
  for the parts these manifests use, and refuse any field they do not know.

Each file is validated as written, and each kustomization (base, overlays) as rendered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.manifests import Doc, kustomizations, load_file, manifest_files, render

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install -e '.[dev]' (kubernetes-validate)")

KUBERNETES_VERSIONS = ("1.32", "1.37")  # the oldest minor we claim (preStop sleep is GA there), the newest shipped
# gRPC probes over TLS (`grpc.mode: TLS`, the production overlay's registry) exist from Kubernetes 1.37 on
MIN_VERSION = {"production": "1.37"}
GATEWAY_API = "gateway.networking.k8s.io/v1"

FILES = manifest_files()
TREES = kustomizations()


def test_every_resource_file_is_listed_in_a_kustomization() -> None:
    """A manifest that no kustomization lists would never be validated as rendered, nor deployed."""
    root = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
    on_disk = {p.resolve() for p in root.rglob("*.yaml")
               if p.name != "kustomization.yaml" and all(isinstance(d, dict) for d in load_file(p))}
    assert on_disk <= set(FILES), f"not in any kustomization: {sorted(map(str, on_disk - set(FILES)))}"
    assert len(TREES) >= 2, "a base and at least one overlay"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_file_validates(path: Path) -> None:
    for doc in load_file(path):
        validate(doc)


@pytest.mark.parametrize("tree", TREES, ids=[t.name for t in TREES])
def test_rendered_kustomization_validates(tree: Path) -> None:
    docs = render(tree)
    assert docs
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), f"duplicate resources: {names}"
    least = MIN_VERSION.get(tree.name, KUBERNETES_VERSIONS[0])
    for doc in docs:
        validate(doc, tuple(v for v in KUBERNETES_VERSIONS if _minor(v) >= _minor(least)))


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


@pytest.mark.parametrize("tree", TREES, ids=[t.name for t in TREES])
def test_rendering_matches_kubectl_kustomize(tree: Path) -> None:
    """The renderer the tests use agrees with kustomize itself, where kubectl is installed (it is not a
    Debian package; CI checks the rendering with tests/deploy/manifests.py alone)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize cross-check needs it")
    out = subprocess.run([kubectl, "kustomize", str(tree)], capture_output=True, text=True, timeout=60, check=True)
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout) if d}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in render(tree)}
    assert ours == theirs


def validate(doc: Doc, versions: tuple[str, ...] = KUBERNETES_VERSIONS) -> None:
    api, kind = doc["apiVersion"], doc["kind"]
    if (api, kind) in CUSTOM:
        _keys(doc, {"apiVersion", "kind", "metadata", "spec"}, {"apiVersion", "kind", "metadata", "spec"}, kind)
        _metadata(doc)
        CUSTOM[(api, kind)](doc)
    elif api == GATEWAY_API:
        check_gateway_api(doc)
    else:
        assert versions
        for version in versions:
            kubernetes_validate.validate(doc, version, strict=True)


# --- prometheus-operator and cert-manager ------------------------------------------------------------

DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")
SELECTOR_KEYS = {"matchLabels", "matchExpressions"}


def _selector(selector: Doc, where: str) -> None:
    _keys(selector, SELECTOR_KEYS, set(), where)
    for k, v in selector.get("matchLabels", {}).items():
        assert isinstance(k, str) and isinstance(v, str), f"{where}: labels are strings ({k}: {v!r})"


def check_servicemonitor(doc: Doc) -> None:
    """monitoring.coreos.com/v1 ServiceMonitor, the fields of its CRD these manifests use."""
    spec = doc["spec"]
    _keys(spec, {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels",
                 "sampleLimit", "attachMetadata", "scrapeProtocols", "selectorMechanism"},
          {"selector"}, "ServiceMonitor.spec")
    _selector(spec["selector"], "ServiceMonitor.spec.selector")
    assert spec.get("endpoints"), "a ServiceMonitor without endpoints scrapes nothing"
    for i, ep in enumerate(spec["endpoints"]):
        where = f"endpoints[{i}]"
        _keys(ep, {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "params", "honorLabels",
                   "honorTimestamps", "tlsConfig", "authorization", "bearerTokenSecret", "relabelings",
                   "metricRelabelings", "followRedirects", "enableHttp2", "filterRunning", "proxyUrl"}, set(), where)
        assert isinstance(ep.get("port", ""), str), f"{where}.port is a port name (string)"
        assert ep.get("scheme", "http") in ("http", "https", "HTTP", "HTTPS"), where
        for key in ("interval", "scrapeTimeout"):
            if key in ep:
                assert DURATION.match(ep[key]), f"{where}.{key}: {ep[key]!r} is not a Prometheus duration"
        assert str(ep.get("path", "/")).startswith("/"), where


def check_certificate(doc: Doc) -> None:
    """cert-manager.io/v1 Certificate, the fields of its CRD these manifests use."""
    spec = doc["spec"]
    _keys(spec, {"secretName", "secretTemplate", "commonName", "dnsNames", "ipAddresses", "uris", "emailAddresses",
                 "duration", "renewBefore", "issuerRef", "isCA", "usages", "privateKey", "subject",
                 "revisionHistoryLimit", "keystores", "literalSubject", "encodeUsagesInRequest"},
          {"secretName", "issuerRef"}, "Certificate.spec")
    assert DNS_LABEL.match(spec["secretName"]), spec["secretName"]
    _keys(spec["issuerRef"], {"name", "kind", "group"}, {"name"}, "Certificate.spec.issuerRef")
    assert spec["issuerRef"].get("kind", "Issuer") in ("Issuer", "ClusterIssuer") or "group" in spec["issuerRef"]
    for key in ("duration", "renewBefore"):
        if key in spec:
            assert GO_DURATION.match(spec[key]), f"{key}: {spec[key]!r} is not a Go duration"
    if "privateKey" in spec:
        key = spec["privateKey"]
        _keys(key, {"algorithm", "size", "encoding", "rotationPolicy"}, set(), "Certificate.spec.privateKey")
        assert key.get("algorithm", "RSA") in ("RSA", "ECDSA", "Ed25519")
        assert key.get("rotationPolicy", "Always") in ("Always", "Never")
        if key.get("algorithm") == "ECDSA":
            assert key.get("size", 256) in (256, 384, 521)
    for usage in spec.get("usages", []):
        assert usage in {"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
                         "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
                         "server auth", "client auth", "code signing", "email protection", "s/mime",
                         "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
                         "microsoft sgc", "netscape sgc"}, usage
    assert not (set(spec.get("dnsNames", [])) - {h for h in spec.get("dnsNames", []) if HOSTNAME.match(h)})


# --- Gateway API ---------------------------------------------------------------------------------------

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
GRPC_SERVICE = re.compile(r"^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$", re.IGNORECASE)


def _keys(obj: Doc, allowed: set[str], required: set[str], where: str) -> None:
    assert isinstance(obj, dict), f"{where}: an object expected"
    assert set(obj) <= allowed, f"{where}: unknown fields {sorted(set(obj) - allowed)}"
    assert required <= set(obj), f"{where}: missing {sorted(required - set(obj))}"


def _metadata(doc: Doc) -> None:
    meta = doc["metadata"]
    assert DNS_LABEL.match(meta["name"]) and len(meta["name"]) <= 253, meta["name"]
    for k, v in (meta.get("labels") or {}).items():
        assert isinstance(k, str) and isinstance(v, str) and len(v) <= 63, (k, v)


def _parent_ref(ref: Doc, where: str) -> None:
    _keys(ref, {"group", "kind", "namespace", "name", "sectionName", "port"}, {"name"}, where)
    assert ref.get("group", "gateway.networking.k8s.io") == "gateway.networking.k8s.io", where
    assert ref.get("kind", "Gateway") == "Gateway", where


def _backend_ref(ref: Doc, where: str) -> None:
    _keys(ref, {"group", "kind", "name", "namespace", "port", "weight", "filters"}, {"name"}, where)
    if ref.get("kind", "Service") == "Service" and ref.get("group", "") == "":
        assert isinstance(ref.get("port"), int) and 1 <= ref["port"] <= 65535, f"{where}: a Service needs a port"
    assert 0 <= ref.get("weight", 1) <= 1_000_000, where


def check_gateway_api(doc: Doc) -> None:
    """gateway.networking.k8s.io/v1 Gateway and GRPCRoute: the fields, types and enumerations of the
    specification, for the parts these manifests use (anything else is refused)."""
    _keys(doc, {"apiVersion", "kind", "metadata", "spec"}, {"apiVersion", "kind", "metadata", "spec"}, doc["kind"])
    _metadata(doc)
    spec = doc["spec"]
    if doc["kind"] == "GRPCRoute":
        _keys(spec, {"parentRefs", "hostnames", "rules"}, set(), "GRPCRoute.spec")
        assert 1 <= len(spec.get("parentRefs", [])) <= 32
        for i, ref in enumerate(spec["parentRefs"]):
            _parent_ref(ref, f"parentRefs[{i}]")
        for host in spec.get("hostnames", []):
            assert HOSTNAME.match(host), host
        assert 1 <= len(spec.get("rules", [])) <= 16
        for i, rule in enumerate(spec["rules"]):
            _keys(rule, {"name", "matches", "filters", "backendRefs", "sessionPersistence"}, set(), f"rules[{i}]")
            for j, match in enumerate(rule.get("matches", [])):
                _keys(match, {"method", "headers"}, set(), f"rules[{i}].matches[{j}]")
                method = match.get("method", {})
                _keys(method, {"type", "service", "method"}, set(), f"rules[{i}].matches[{j}].method")
                assert method.get("type", "Exact") in ("Exact", "RegularExpression")
                assert "service" in method or "method" in method, "a method match names a service or a method"
                if "service" in method and method.get("type", "Exact") == "Exact":
                    assert GRPC_SERVICE.match(method["service"]), method["service"]
            for j, ref in enumerate(rule.get("backendRefs", [])):
                _backend_ref(ref, f"rules[{i}].backendRefs[{j}]")
    elif doc["kind"] == "Gateway":
        _keys(spec, {"gatewayClassName", "listeners", "addresses", "infrastructure", "backendTLS"},
              {"gatewayClassName", "listeners"}, "Gateway.spec")
        assert DNS_LABEL.match(spec["gatewayClassName"])
        assert 1 <= len(spec["listeners"]) <= 64
        for i, listener in enumerate(spec["listeners"]):
            where = f"listeners[{i}]"
            _keys(listener, {"name", "hostname", "port", "protocol", "tls", "allowedRoutes"},
                  {"name", "port", "protocol"}, where)
            assert DNS_LABEL.match(listener["name"]), where
            assert 1 <= listener["port"] <= 65535, where
            assert listener["protocol"] in ("HTTP", "HTTPS", "TLS", "TCP", "UDP"), where
            if "hostname" in listener:
                assert HOSTNAME.match(listener["hostname"]), where
            if listener["protocol"] == "HTTPS":
                tls = listener.get("tls")
                assert tls is not None, f"{where}: an HTTPS listener needs tls"
                _keys(tls, {"mode", "certificateRefs", "frontendValidation", "options"}, set(), f"{where}.tls")
                assert tls.get("mode", "Terminate") in ("Terminate", "Passthrough")
                assert 1 <= len(tls.get("certificateRefs", [])) <= 64, f"{where}: Terminate needs a certificate"
                for ref in tls["certificateRefs"]:
                    _keys(ref, {"group", "kind", "name", "namespace"}, {"name"}, f"{where}.tls.certificateRefs")
                    assert ref.get("group", "") == "" and ref.get("kind", "Secret") == "Secret"
            routes = listener.get("allowedRoutes", {})
            _keys(routes, {"namespaces", "kinds"}, set(), f"{where}.allowedRoutes")
            assert routes.get("namespaces", {}).get("from", "Same") in ("All", "Same", "Selector")
            for kind in routes.get("kinds", []):
                _keys(kind, {"group", "kind"}, {"kind"}, f"{where}.allowedRoutes.kinds")
    else:
        raise AssertionError(f"no check for {doc['apiVersion']} {doc['kind']}")


CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): check_servicemonitor,
    ("cert-manager.io/v1", "Certificate"): check_certificate,
}
