"""App configuration of api."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        from api import authentication  # connects the token cache's signal receivers
        from api.broadcast import broadcaster
        from api.instance_transport import ChannelLayerTransport
        from monitoring import live
        from serving import instances
        from serving.process import register_part

        live.subscribe(broadcaster)  # monitoring's live events reach WebSocket and SSE listeners
        # Per-process state of the transports, reset with the ServingProcess (a test fixture resets it all).
        register_part("broadcast", lambda process: broadcaster)
        register_part("tokens", authentication.TokenCache)
        instances.set_transport(ChannelLayerTransport())  # commands to production instances (a deploy's pre-load)
