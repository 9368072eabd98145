"""Integration tests with real outside processes: a Celery worker on Redis, sharing the Postgres test database."""
