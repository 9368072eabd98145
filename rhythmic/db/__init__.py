"""Database backends of Rhythmic: Django's, with what its hot path needs changed (see each backend)."""
