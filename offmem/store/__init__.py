"""SQLite, the source of truth: the connection, schema migrations and the queries on it.

``SCHEMA_VERSION`` is the number of the last migration (:mod:`offmem.store.migrations`
mirrors the highest applied one in ``PRAGMA user_version``): the hook compares the two
with one pragma, and migrates a database that is behind. It is defined here, in the
package every store module loads anyway, so a hook loads no module for it;
tests/test_store_version.py keeps it equal to the last migration.
"""

SCHEMA_VERSION = 5
