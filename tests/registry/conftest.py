"""Registry test fixtures (defined in registry_helpers and tests/pg.py, importable by the tests too).

A test or module marked ``pytest.mark.databases`` runs on SQLite and on a real PostgreSQL
(``database_url`` parametrized); every other test runs on SQLite only.
"""

import pytest
from registry_helpers import models, registry, settings

from tests.pg import database_url, pg_url, postgres, postgres_server

__all__ = ["database_url", "models", "pg_url", "postgres", "postgres_server", "registry", "settings"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("databases"):
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
