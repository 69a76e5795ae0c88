"""The project's docs are its own: README.md and docs/ point at pages inside the repository (the
design the code relies on is docs/design.md), and every docs/ page they name exists."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_no_page_points_outside_the_repository() -> None:
    for page in PAGES:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            assert "../shared" not in line and "DESIGN.md" not in line, f"{page.name}:{n}: {line}"


def test_the_docs_pages_named_exist() -> None:
    for page in PAGES:
        for name in re.findall(r"\bdocs/([A-Za-z0-9_.-]+\.md)\b", page.read_text()):
            assert (ROOT / "docs" / name).is_file(), f"{page.name} names docs/{name}, which does not exist"
    assert "docs/design.md" in (ROOT / "README.md").read_text()
