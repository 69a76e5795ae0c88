"""Generate driftgate's protobuf and gRPC modules from protos/.

One script produces every ``_pb2`` module; ``--check`` regenerates into a scratch folder and
fails when the committed modules differ (the test suite runs it, so stale modules fail CI).

    python scripts/gen_protos.py          # write driftgate/proto/**/_pb2*.py
    python scripts/gen_protos.py --check  # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import filecmp
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def _generate(out: pathlib.Path) -> list[pathlib.Path]:
    from grpc_tools import protoc  # build-time dependency only

    sources = sorted(PROTOS.rglob("*.proto"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(s) for s in sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p.relative_to(out) for p in (out / "driftgate").rglob("*_pb2*.py*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated modules are stale")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            produced = _generate(pathlib.Path(tmp))
            stale = [
                str(rel)
                for rel in produced
                if not (ROOT / rel).exists() or not filecmp.cmp(ROOT / rel, pathlib.Path(tmp) / rel, shallow=False)
            ]
        if stale:
            print("stale generated modules (run python scripts/gen_protos.py):", *stale, sep="\n  ")
            return 1
        print(f"{len(produced)} generated modules are up to date")
        return 0
    produced = _generate(ROOT)
    print(f"wrote {len(produced)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
