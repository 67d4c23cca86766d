"""SQLite, the source of truth: the connection, schema migrations and the queries on it."""
