"""The database layer: models, repositories and the unit of work."""
