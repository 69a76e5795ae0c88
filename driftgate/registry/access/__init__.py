"""Who may call the registry: the API tokens it keeps, as SHA-256 hashes in its database (tokens)."""
