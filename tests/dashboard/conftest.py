from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.dashboard_helpers import Dashboard, start_dashboard


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    yield from start_dashboard(Path(tmp_path_factory.mktemp("dashboard")) / "home")
