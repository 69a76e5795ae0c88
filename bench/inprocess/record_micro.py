"""Cost of building the request edge's read record and reading its seven fields: a plain tuple, a
NamedTuple, a slotted dataclass (frozen or not), a class with __slots__ (bench/request_edge.md).

    python bench/inprocess/record_micro.py

Prints nanoseconds per build and per read of all seven fields (the minimum over 5 repeats of
2,000,000). The gateway builds one such record per request (driftgate.gateway.reader.Read).
"""

from __future__ import annotations

import timeit
from dataclasses import dataclass
from typing import Any, NamedTuple


class ReadNamedTuple(NamedTuple):
    model: Any
    feeds: dict[str, Any]
    rows: int
    outputs: Any
    version: str
    key: str | None
    request_id: str


@dataclass(slots=True)
class ReadSlots:
    model: Any
    feeds: dict[str, Any]
    rows: int
    outputs: Any
    version: str
    key: str | None
    request_id: str


@dataclass(slots=True, frozen=True)
class ReadFrozen:
    model: Any
    feeds: dict[str, Any]
    rows: int
    outputs: Any
    version: str
    key: str | None
    request_id: str


class ReadPlain:
    __slots__ = ("feeds", "key", "model", "outputs", "request_id", "rows", "version")

    def __init__(
        self, model: Any, feeds: dict[str, Any], rows: int, outputs: Any, version: str, key: str | None, request_id: str
    ) -> None:
        self.model = model
        self.feeds = feeds
        self.rows = rows
        self.outputs = outputs
        self.version = version
        self.key = key
        self.request_id = request_id


BY_NAME = "a = r.model; b = r.feeds; c = r.rows; d = r.outputs; e = r.version; g = r.key; h = r.request_id"
CASES = [
    ("tuple", "(m, f, 1, s, '', None, 'id')", "a, b, c, d, e, g, h = r"),
    ("NamedTuple", "ReadNamedTuple(m, f, 1, s, '', None, 'id')", BY_NAME),
    ("dataclass(slots=True)", "ReadSlots(m, f, 1, s, '', None, 'id')", BY_NAME),
    ("dataclass(slots, frozen)", "ReadFrozen(m, f, 1, s, '', None, 'id')", BY_NAME),
    ("class with __slots__", "ReadPlain(m, f, 1, s, '', None, 'id')", BY_NAME),
]


def main(number: int = 2_000_000) -> None:
    for name, build, read in CASES:
        scope = {**globals(), "m": object(), "f": {}, "s": ()}
        built = min(timeit.repeat(build, globals=scope, number=number, repeat=5)) / number * 1e9
        scope["r"] = eval(build, scope)
        used = min(timeit.repeat(read, globals=scope, number=number, repeat=5)) / number * 1e9
        print(f"{name:26s} build {built:6.1f} ns  read all seven fields {used:6.1f} ns")


if __name__ == "__main__":
    main()
