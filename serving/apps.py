"""The serving core as a Django app: it owns the learn log, pending predictions and checkpoints."""

from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = "Serving"
