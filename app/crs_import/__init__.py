"""The CRS importer: moves a claude-relay-service Redis store into Relaygate (schema migrations
are alembic/, not this)."""
