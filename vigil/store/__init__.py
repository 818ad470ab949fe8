"""Identity store: visitors, sightings, visits and face crops (SQLite or PostgreSQL + pgvector)."""
