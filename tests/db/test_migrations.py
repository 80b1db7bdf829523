"""The migrations build exactly the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from recado.db.tables import Base
from recado.platform import Platform


async def test_migrated_schema_matches_the_tables_in_code(platform: Platform):
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection)
        return compare_metadata(context, Base.metadata)

    async with platform.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []
