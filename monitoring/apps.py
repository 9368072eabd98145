"""App configuration of monitoring."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from monitoring import events  # noqa: F401 - subscribes to the serving core and the catalogue

        # isort: split
        from monitoring import alerts, history, policies, prometheus  # noqa: F401 - after events, which records drift points
