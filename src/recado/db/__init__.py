"""Storage: tables, the engine, migrations and the named hot-path queries."""
