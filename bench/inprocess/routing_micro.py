"""Cost of RouteTable.choose() per call, for 1, 2 and 3 routed versions, keyed and keyless.

    PYTHONPATH=. .venv/bin/python bench/inprocess/routing_micro.py [--number N] [--repeat R]

Prints ns/call: the best of R timeit runs of N calls each (the best run is the one least
disturbed by the rest of the machine), and the median of the runs for scale. The loop overhead of
an empty call is printed too; it is not subtracted.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import timeit

from driftgate.gateway.routing import RouteTable, key_hash

TABLES = {
    1: RouteTable.single(1),
    2: RouteTable.build({1: 95, 2: 5}),
    3: RouteTable.build({1: 70, 2: 25, 3: 5}, {4: 0.05}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    key = "card-4929-0000-1234"
    rand = 0.6180339887
    cases: list[tuple[str, str, dict[str, object]]] = [("empty call", "f()", {"f": lambda: None})]
    for n, table in TABLES.items():
        cases.append((f"{n} version(s), key", "choose(key, rand)", {"choose": table.choose}))
        cases.append((f"{n} version(s), no key", "choose(None, rand)", {"choose": table.choose}))
    cases.append(("key_hash alone", "key_hash(key)", {"key_hash": key_hash}))
    cases.append(("shadow_targets, 1 shadow", "shadow_targets(rand)", {"shadow_targets": TABLES[3].shadow_targets}))

    print(f"python {sys.version.split()[0]} on {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"{'case':28s} {'best ns/call':>12s} {'median':>8s}")
    for label, stmt, namespace in cases:
        runs = timeit.repeat(
            stmt, globals={**namespace, "key": key, "rand": rand}, number=args.number, repeat=args.repeat
        )
        per_call = [t / args.number * 1e9 for t in runs]
        print(f"{label:28s} {min(per_call):12.0f} {statistics.median(per_call):8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
