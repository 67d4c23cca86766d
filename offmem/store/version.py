"""The schema version the code expects; checked by the hook with one pragma.

Kept in its own tiny module so the hook does not load the migrations to read it.
tests/test_store.py asserts it equals the number of the last migration.
"""
SCHEMA_VERSION = 1
