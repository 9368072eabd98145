"""``manage.py promote NAME --version V``: put a ready version in production, as a deploy (every live instance of
the model's location pre-loads it first; see ``catalogue.services.deployment_deploy``)."""

from django.core.management.base import BaseCommand, CommandError

from catalogue import services
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user


class Command(BaseCommand):
    help = "Make version V of model NAME its production version (it must have passed validation)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is Django's "print the Django version" flag; here it names the model version to promote.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("name", help="the model's name")
        parser.add_argument("--version", required=True, dest="number", help="the version number to promote")
        parser.add_argument("--note", default="", help="why, recorded in the deployment history")
        add_user_argument(parser)

    def handle(self, *args, **options):
        user = cli_user(options["user"])
        try:
            model = services.get_model_or_404(options["name"])
            version = services.get_version_or_404(model, options["number"])
            deployment = services.deployment_deploy(version=version, user=user, note=options["note"])
        except RhythmicError as exc:
            raise CommandError(exc.message) from None
        if deployment is None:
            self.stdout.write(f"{model.name} v{version.number} is deploying: its instances are still pre-loading it")
            return
        previous = f"v{deployment.from_version.number}" if deployment.from_version else "none"
        self.stdout.write(f"{model.name} v{version.number} is now in production (was {previous})")
