"""Registry test fixtures (defined in registry_helpers, importable by the tests too)."""

from registry_helpers import models, registry, settings

__all__ = ["models", "registry", "settings"]
