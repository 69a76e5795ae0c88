"""The Kubernetes manifests under deploy/kubernetes/, read as the cluster would get them.

``render(directory)`` builds a kustomization the way ``kubectl kustomize`` does for the subset of
kustomize these manifests use (resources, components, namespace, labels without selectors, images,
JSON6902 patches); anything else in a kustomization.yaml is refused, so a new feature cannot slip past the
tests unrendered. Where kubectl is installed, tests/deploy/test_kubernetes_schemas.py holds this
rendering to kubectl's, document for document.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"

Doc = dict[str, Any]

# kinds in these manifests that live outside a namespace
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterIssuer", "GatewayClass",
                  "CustomResourceDefinition", "PersistentVolume", "StorageClass"}
SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "components", "namespace", "labels", "images", "patches"}


def kustomizations() -> list[Path]:
    """Every directory holding a kustomization.yaml that builds on its own (the base and each overlay;
    not the components, which only mean something inside one)."""
    return sorted(p.parent for p in KUBERNETES.rglob("kustomization.yaml") if _load_one(p)["kind"] == "Kustomization")


def all_kustomizations() -> list[Path]:
    return sorted(p.parent for p in KUBERNETES.rglob("kustomization.yaml"))


def manifest_files() -> list[Path]:
    """Every resource file (not kustomizations, not patches) under deploy/kubernetes/."""
    listed: set[Path] = set()
    for directory in all_kustomizations():
        spec = _load_one(directory / "kustomization.yaml")
        listed.update((directory / r).resolve() for r in spec.get("resources", []))
    return sorted(p for p in listed if p.is_file())


def load_file(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _load_one(path: Path) -> Doc:
    docs = load_file(path)
    assert len(docs) == 1, f"{path}: one document expected"
    return docs[0]


def render(directory: Path, docs: list[Doc] | None = None) -> list[Doc]:
    """The documents a kustomization builds; a component (``docs`` given) adds to and patches ``docs``."""
    spec = _load_one(directory / "kustomization.yaml")
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise NotImplementedError(f"{directory}: kustomize features this renderer does not know: {sorted(unknown)}")
    assert (docs is not None) == (spec["kind"] == "Component"), f"{directory}: a component only inside a kustomization"
    docs = [] if docs is None else docs
    for resource in spec.get("resources", []):
        path = (directory / resource).resolve()
        docs += render(path) if path.is_dir() else [copy.deepcopy(d) for d in load_file(path)]
    for component in spec.get("components", []):
        docs = render((directory / component).resolve(), docs)
    for patch in spec.get("patches", []):
        ops = yaml.safe_load((directory / patch["path"]).read_text())
        assert isinstance(ops, list), f"{patch['path']}: only JSON6902 patches (a list of operations) are rendered"
        targets = [d for d in docs if _matches(d, patch["target"])]
        assert len(targets) == 1, f"{patch['path']}: target {patch['target']} matches {len(targets)} resources"
        for op in ops:
            _apply(targets[0], op)
    for entry in spec.get("labels", []):
        assert not entry.get("includeSelectors") and not entry.get("includeTemplates"), "labels: metadata only"
        for d in docs:
            d.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for image in spec.get("images", []):
        for d in docs:
            for container in containers(d):
                name, _, _tag = container["image"].partition(":")
                if name == image["name"]:
                    new = image.get("newName", name)
                    tag = image.get("newTag")
                    container["image"] = f"{new}:{tag}" if tag else new
    if "namespace" in spec:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = spec["namespace"]
    return docs


def _matches(doc: Doc, target: Doc) -> bool:
    group, _, version = doc["apiVersion"].rpartition("/")
    return (target.get("kind", doc["kind"]) == doc["kind"]
            and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"]
            and target.get("group", group) == group
            and target.get("version", version) == version)


def _apply(doc: Doc, op: Doc) -> None:
    """One RFC 6902 operation (add, replace, remove) on ``doc``."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if op["op"] == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    elif op["op"] == "replace":
        if isinstance(parent, list):
            parent[int(last)] = op["value"]
        else:
            assert last in parent, f"replace of a missing path {op['path']}"
            parent[last] = op["value"]
    elif op["op"] == "test":
        value = parent[int(last)] if isinstance(parent, list) else parent[last]
        assert value == op["value"], f"patch test failed at {op['path']}: {value!r} is not {op['value']!r}"
    elif op["op"] == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), op["value"])
        else:
            parent[last] = op["value"]
    else:
        raise NotImplementedError(op["op"])


def pod_spec(doc: Doc) -> Doc | None:
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: Doc = doc["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "Pod":
        return doc["spec"]  # type: ignore[no-any-return]
    return None


def containers(doc: Doc) -> Iterator[Doc]:
    spec = pod_spec(doc)
    if spec is not None:
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]
