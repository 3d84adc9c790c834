"""The production shape (Procfile under honcho, PostgreSQL, Redis) run as real processes."""
