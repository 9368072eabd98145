"""The serving core as a Django app: it owns the learn log, pending predictions and checkpoints, and makes a
person's promote a deploy (``serving.deploy``)."""

from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        from catalogue import services
        from serving import deploy, instances

        # A person's promote (CLI, admin, deploy files, pages, REST) is a deploy: pre-load first, then switch.
        services.register_deployer(deploy.promote)
        instances.register_command("preload", deploy.on_preload)
        instances.register_command("drop", deploy.on_drop)
        instances.register_beat_hook(deploy.on_beat)  # the pre-loads an instance missed the command of
