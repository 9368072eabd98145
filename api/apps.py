"""App configuration of api."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        from api import authentication  # noqa: F401 - connects the token cache's signal receivers
        from api.broadcast import broadcaster
        from monitoring import live

        live.subscribe(broadcaster)  # monitoring's live events reach WebSocket and SSE listeners
