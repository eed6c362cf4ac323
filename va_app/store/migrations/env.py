"""Alembic environment of the catalog: runs on the connection ``va_app.store.migrate`` opens.

That connection is already inside the one transaction (and, on PostgreSQL, under the advisory
lock) the whole upgrade runs in, so two app servers starting together cannot both migrate.
"""

from alembic import context

from va_app.store.schema import Base

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table by copying it; Alembic's batch mode does that.
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True
)
with context.begin_transaction():
    context.run_migrations()
