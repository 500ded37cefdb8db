"""The schema's migrations, one file each, in order; Alembic reads them by path.

Revision ids 0001 to 0006 are the names the migration runner of earlier versions recorded in
``schema_migrations``, so a file made by it continues here with no step applied twice.
Never edit a released migration: add the next one.
"""
