"""Plain-text tables for terminals and logs: what the CLI and ``driftgate bench`` print for people.

    table = TextTable("models", ["model", "versions", "traffic"], right={"versions"})
    table.add_row("fraud", 2, "1=95 2=5")
    print(table)

    models
    model  versions  traffic
    -----  --------  --------
    fraud         2  1=95 2=5

No colours, no box drawing and no wrapping: a row is one line, so ``grep`` and ``cut`` work on it
and a test can look for a cell's text. Cells are ``str()`` of what was given; a line break inside
a cell becomes a space. Scripts read ``--json`` instead (every listing takes it).

Why not ``rich``: tables were all the CLI used it for, and a runtime dependency (plus its
markdown and pygments dependencies) for a dozen lines of padding did not pay its way in the plain
``pip install driftgate`` (docs/design.md, "A slim runtime"). It lives here, not in driftgate/cli,
because the load tool (driftgate/bench) prints tables too and sits below the CLI.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

__all__ = ["TextTable"]

_GAP = "  "


class TextTable:
    """Rows under a header, each column as wide as its widest cell; ``str()`` renders it."""

    def __init__(self, title: str = "", columns: Iterable[str] = (), *, right: Collection[str] = ()) -> None:
        self.title = title
        self.columns: list[str] = []
        self._right: list[bool] = []
        self.rows: list[list[str]] = []
        for name in columns:
            self.add_column(name, right=name in right)

    def add_column(self, name: str, *, right: bool = False) -> None:
        """A column; ``right`` aligns its cells to the right (numbers)."""
        if self.rows:
            raise ValueError("add every column before the first row")
        self.columns.append(name)
        self._right.append(right)

    def add_row(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells in a table of {len(self.columns)} columns")
        self.rows.append([" ".join(str(c).splitlines()) for c in cells])

    def render(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: list[str]) -> str:
            padded = (
                cell.rjust(w) if right else cell.ljust(w)
                for cell, w, right in zip(cells, widths, self._right, strict=True)
            )
            return _GAP.join(padded).rstrip()

        lines = [self.title] if self.title else []
        lines.append(line(self.columns))
        lines.append(_GAP.join("-" * w for w in widths))
        lines.extend(line(row) for row in self.rows)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
