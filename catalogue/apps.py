"""App configuration of the catalogue."""

from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "catalogue"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
        from river import base, drift

        detector = getattr(drift, settings.RHYTHMIC_DRIFT_DETECTOR, None)
        if not (isinstance(detector, type) and issubclass(detector, base.DriftDetector)):
            raise ImproperlyConfigured(
                f"RHYTHMIC_DRIFT_DETECTOR={settings.RHYTHMIC_DRIFT_DETECTOR!r} is not a drift detector of river.drift; "
                "use ADWIN, KSWIN or PageHinkley"
            )
        for name in (
            "RHYTHMIC_MAX_PENDING",
            "RHYTHMIC_LOG_RETENTION_DAYS",
            "RHYTHMIC_LOG_RETENTION_ENTRIES",
            "RHYTHMIC_LOG_PRUNE_SECONDS",
            "RHYTHMIC_MAX_LOADED_MODELS",
            "RHYTHMIC_MAX_LOADED_MB",
        ):
            if getattr(settings, name) < 0:
                raise ImproperlyConfigured(f"{name}={getattr(settings, name)} is negative; 0 turns the bound off")
