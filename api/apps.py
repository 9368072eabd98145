"""App configuration of api."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
