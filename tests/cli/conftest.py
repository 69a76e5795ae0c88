"""CLI test fixtures (defined in cli_helpers, importable by the tests too)."""

from cli_helpers import files, registry

__all__ = ["files", "registry"]
