"""Database access: engine construction, table metadata (Alembic's target) and migrations."""
