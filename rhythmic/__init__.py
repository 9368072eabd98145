"""Rhythmic: deploy online machine-learning models from a versioned catalogue."""

from .celery import app as celery_app

__all__ = ("celery_app",)
