"""App configuration of api."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        from api import authentication  # noqa: F401 - connects the token cache's signal receivers
