"""The import rules of driftgate/ and bench/: the layers below, and no import in a circle.

The modules are read with ``ast``, never imported, so a broken import cannot hide a rule. Every import
counts: at module level, inside a function (a lazy import still makes one module need the other, only
later), under ``if TYPE_CHECKING:`` (a type names what a module depends on), and a constant string that a
module hands to ``importlib.import_module`` (how the CLI registers its subcommands). Generated protobuf
modules (``*_pb2*.py``) and tests are not read; tests may import anything.

LAYERS is the table docs/architecture.md shows under "Module map"; a test holds the two equal, so the
map stays true. A module may import modules of its own layer and of the layers its row names. A module
that matches no row fails the test: a new package needs its row, written here and in the doc.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Layer:
    name: str
    members: tuple[str, ...]  # dotted module prefixes under driftgate/, or path prefixes under bench/
    may_import: tuple[str, ...]  # other layers; its own is always allowed


# Bottom first. The data plane and the control plane (the registry's rows) never import
# each other: what both need (the protos, the latency buckets the gateways count in and the registry adds
# up, the control channel's limits) lives in the shared layer. Inside the registry each part imports only
# the parts below it. The CLI and the benchmark scripts reach the registry and the gateways over their APIs
# (the protos, the clients in the shared layer), never their internals; only composition roots build a
# plane. ANY: every layer.
ANY = "any"
REGISTRY_ADAPTERS = ("shared", "kernels", "registry store", "registry catalogue", "registry observation",
                     "registry loop", "registry access")
LAYERS: tuple[Layer, ...] = (
    Layer("shared", (
        "driftgate.__init__", "driftgate.errors", "driftgate.settings", "driftgate.signature",
        "driftgate.latency_buckets", "driftgate.control_channel", "driftgate.proto", "driftgate.home",
        "driftgate.logs", "driftgate.redact", "driftgate.tls", "driftgate.grpc_edge", "driftgate.auth",
        "driftgate.text_table", "driftgate.durations", "driftgate.atomic_write", "driftgate.sha256_files",
    ), ()),
    Layer("kernels", ("driftgate.native",), ("shared",)),
    Layer("demo", ("driftgate.demo",), ("shared",)),
    Layer("data plane", ("driftgate.gateway",), ("shared", "kernels")),
    Layer("registry store", ("driftgate.registry.store",), ("shared",)),
    Layer("registry catalogue", ("driftgate.registry.catalogue",), ("shared", "kernels", "registry store")),
    Layer("registry observation", ("driftgate.registry.observation",),
          ("shared", "kernels", "registry store", "registry catalogue")),
    Layer("registry loop", ("driftgate.registry.loop",),
          ("shared", "kernels", "demo", "registry store", "registry catalogue", "registry observation")),
    Layer("registry access", ("driftgate.registry.access",), ("shared", "registry store", "registry catalogue")),
    Layer("registry replicas", ("driftgate.registry.replicas",), ("shared", "registry store")),
    Layer("registry api", ("driftgate.registry.api",), REGISTRY_ADAPTERS),
    Layer("registry dashboard", ("driftgate.registry.dashboard",), REGISTRY_ADAPTERS),
    Layer("registry root", ("driftgate.registry.__init__", "driftgate.registry.server", "driftgate.registry.tables"),
          (*REGISTRY_ADAPTERS, "registry replicas", "registry api", "registry dashboard")),
    Layer("load tools", ("driftgate.bench",), ("shared", "demo")),
    Layer("cli", ("driftgate.cli",), ("shared", "demo", "load tools")),
    Layer("composition roots", (
        "driftgate.__main__", "driftgate.cli.main", "driftgate.cli.serve", "driftgate.cli.registry_cmd",
        "driftgate.supervisor",
    ), (ANY,)),
    Layer("bench scripts", ("bench/",), ("shared", "demo", "load tools", "cli")),
    Layer("in-process benchmarks", ("bench/inprocess/",), (ANY,)),
)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module's name
    path: str  # its file, relative to the repository
    line: int
    target: str  # the module imported
    text: str  # the import as written


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] != "driftgate":
        return rel.as_posix()
    return ".".join(rel.with_suffix("").parts)  # a package is its "pkg.__init__" module


def _sources() -> dict[str, Path]:
    paths = [*(ROOT / "driftgate").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    return {_module_name(p): p for p in sorted(paths) if "_pb2" not in p.name}


def _generated() -> set[str]:
    return {_module_name(p) for p in (ROOT / "driftgate").rglob("*_pb2*.py")}


def _resolve(name: str, known: set[str]) -> str | None:
    """The module that ``import name`` loads last: the module itself, else its package's __init__."""
    if not (name == "driftgate" or name.startswith("driftgate.")):
        return None
    for candidate in (name, f"{name}.__init__"):
        if candidate in known:
            return candidate
    parent = name.rpartition(".")[0]
    return _resolve(parent, known) if parent else None


def _imports(source: str, path: Path, known: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = source.rpartition(".")[0] if source.startswith("driftgate") else ""
    rel = path.relative_to(ROOT).as_posix()
    found: list[Import] = []

    def add(node: ast.AST, target: str | None) -> None:
        if target is not None and target != source:
            found.append(Import(source, rel, node.lineno, target, ast.get_source_segment(path.read_text(), node)
                                or ast.unparse(node)))

    dynamic = any(isinstance(n, ast.Attribute | ast.Name) and getattr(n, "attr", getattr(n, "id", "")) in
                  ("import_module", "__import__") for n in ast.walk(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, _resolve(alias.name, known))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                target = _resolve(f"{base}.{alias.name}", known)  # a submodule ...
                if target is None or not target.startswith(f"{base}.{alias.name}"):
                    target = _resolve(base, known)  # ... or a name of the module
                add(node, target)
        elif dynamic and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"driftgate(\.\w+)+", node.value):
            add(node, _resolve(node.value, known))
    return found


def _graph() -> list[Import]:
    sources = _sources()
    known = set(sources) | _generated()
    found = [imp for name, path in sources.items() for imp in _imports(name, path, known)]
    return list(dict.fromkeys(found))  # `from a import b, c` names module a once


def _layer_of(module: str) -> Layer | None:
    best: tuple[int, Layer] | None = None
    for layer in LAYERS:
        for member in layer.members:
            inside = module == member or module.startswith(member if member.endswith("/") else f"{member}.")
            if inside and (best is None or len(member) > best[0]):
                best = (len(member), layer)
    return best[1] if best else None


def test_every_module_has_a_layer():
    missing = sorted(m for m in [*_sources(), *_generated()] if _layer_of(m) is None)
    assert not missing, "modules in no layer of LAYERS (add a row here and in docs/architecture.md): " + \
        ", ".join(missing)


def test_imports_follow_the_layers():
    wrong = []
    for imp in _graph():
        have, want = _layer_of(imp.source), _layer_of(imp.target)
        if have is None or want is None or have == want or {want.name, ANY} & set(have.may_import):
            continue
        wrong.append(f"{imp.path}:{imp.line}: `{imp.text}`: {have.name} may not import {want.name} "
                     f"({imp.target}); it may import {', '.join(have.may_import) or 'only its own layer'}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    imports = _graph()
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        edges[imp.source].add(imp.target)
    lines = []
    for component in _cycles(edges):
        inside = set(component)
        lines.append("circle: " + ", ".join(component))
        lines += dict.fromkeys(f"  {imp.path}:{imp.line}: `{imp.text}`" for imp in imports
                               if imp.source in inside and imp.target in inside)
    assert not lines, "modules that import each other in a circle:\n" + "\n".join(lines)


def _doc_table() -> dict[str, tuple[set[str], set[str]]]:
    """The rows of the layer table under docs/architecture.md's "Module map" heading."""
    text = DOC.read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3 or cells[0] in ("layer", "") or set(cells[0]) <= {"-"}:
            continue
        members = set(re.findall(r"`([^`]+)`", cells[1]))
        allowed = {c.strip() for c in cells[2].split(",")} - {"", "-"}
        rows[cells[0]] = (members, allowed)
    return rows


def test_the_architecture_doc_shows_the_same_layers():
    expected = {layer.name: (set(layer.members), set(layer.may_import)) for layer in LAYERS}
    assert _doc_table() == expected


def test_the_cli_imports_neither_plane():
    """`driftgate --help` and every client subcommand's module load without the registry, the gateway or
    SQLAlchemy: the CLI talks to them over their APIs."""
    code = (
        "import sys\n"
        "from driftgate.cli.main import build_parser\n"
        "build_parser()\n"
        "import driftgate.cli._client, driftgate.cli.demo_cmd\n"
        "bad = sorted(m for m in sys.modules if m == 'sqlalchemy' or m.split('.')[:2] in "
        "(['driftgate', 'registry'], ['driftgate', 'gateway']))\n"
        "print(' '.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing the CLI imported: {result.stdout.strip()}"
