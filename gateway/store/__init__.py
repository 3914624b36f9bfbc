"""Storage: the `Store` interface and its SQLite and Redis backends."""
