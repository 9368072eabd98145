"""``manage.py deploy CONFIG``: create or update a model from a TOML config, register its artifact, promote it."""

from django.core.management.base import BaseCommand, CommandError

from catalogue import deploy_config
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user
from catalogue.management.commands.add_model import raise_if_failed, version_lines


class Command(BaseCommand):
    help = (
        "Deploy from a TOML config: [model] name, flavor, description, location, metadata; [artifact] path, "
        "format, requirements, message, input_example; [deploy] promote. Paths are relative to the config's folder."
    )

    def add_arguments(self, parser):
        parser.add_argument("config", help="the TOML deploy config file")
        add_user_argument(parser)

    def handle(self, *args, **options):
        user = cli_user(options["user"])
        try:
            config = deploy_config.load(options["config"])
            outcome = deploy_config.apply(config, user=user)
        except RhythmicError as exc:
            raise CommandError(exc.message) from None
        model, version = outcome.model, outcome.version
        if outcome.model_created:
            self.stdout.write(f"created model {model.name} ({model.flavor})")
        for line in version_lines(version, created=outcome.version_created):
            self.stdout.write(line)
        raise_if_failed(version)
        if outcome.promotion == "promoted":
            previous = outcome.deployment.from_version
            was = f"v{previous.number}" if previous else "none"
            self.stdout.write(f"{model.name} v{version.number} is now in production (was {was})")
        elif outcome.promotion == "deploying":
            self.stdout.write(f"{model.name} v{version.number} is deploying: its instances are still pre-loading it")
        elif outcome.promotion == "already live":
            self.stdout.write(f"{model.name} v{version.number} is already in production")
        elif outcome.promotion == "pending":
            self.stdout.write(
                f"not promoted yet: validation of {model.name} v{version.number} has not finished (a worker runs it). "
                f"Once `manage.py versions {model.name}` shows it ready, run: "
                f"manage.py promote {model.name} --version {version.number}"
            )
        elif outcome.promotion == "retired":
            raise CommandError(f"{version} holds these bytes but is retired; it cannot be promoted")
