"""``manage.py rollback NAME``: return a model to its previous production version."""

from django.core.management.base import BaseCommand, CommandError

from catalogue import services
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user


class Command(BaseCommand):
    help = "Return model NAME to the version that was in production before the current one."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the model's name")
        parser.add_argument("--note", default="", help="why, recorded in the deployment history")
        add_user_argument(parser)

    def handle(self, *args, **options):
        user = cli_user(options["user"])
        try:
            model = services.get_model_or_404(options["name"])
            deployment = services.deployment_rollback(model=model, user=user, note=options["note"])
        except RhythmicError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"{model.name} rolled back from v{deployment.from_version.number} to v{deployment.to_version.number}"
        )
