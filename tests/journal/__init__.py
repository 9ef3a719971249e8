"""The action journal's tests: one suite run on both backends (SQLite and PostgreSQL)."""
