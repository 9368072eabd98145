"""``manage.py challengers NAME [list | add V | remove V]``: versions that learn beside production."""

from django.core.management.base import BaseCommand, CommandError

import serving
from catalogue import selectors, services
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user
from catalogue.management.commands.models import format_table


def metric_cells(body: dict) -> tuple[str, str]:
    values = ", ".join(
        f"{name}={value:.6g}" if value is not None else f"{name}=-" for name, value in body["metrics"].items()
    )
    return str(body["n_learned"]), values or "-"


class Command(BaseCommand):
    help = (
        "List, add or remove the challengers of model NAME: ready versions that predict and learn every event "
        "beside production, never answer, and keep what they learned when promoted."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the model's name")
        parser.add_argument("action", nargs="?", choices=["list", "add", "remove"], default="list")
        parser.add_argument("number", nargs="?", help="the version number (add, remove)")
        parser.add_argument("--note", default="", help="why, recorded in the deployment history")
        add_user_argument(parser)

    def handle(self, *args, **options):
        action = options["action"]
        if action != "list" and options["number"] is None:
            raise CommandError(f"challengers NAME {action} needs a version number, e.g. challengers taxi {action} 3")
        try:
            model = services.get_model_or_404(options["name"])
            if action == "list":
                return self.list(model)
            user = cli_user(options["user"])
            version = services.get_version_or_404(model, options["number"])
            if action == "add":
                services.challenger_add(version=version, user=user, note=options["note"])
                self.stdout.write(f"{model.name} v{version.number} is a challenger: it learns beside production")
            else:
                services.challenger_remove(version=version, user=user, note=options["note"])
                self.stdout.write(f"{model.name} v{version.number} is no longer a challenger")
        except RhythmicError as exc:
            raise CommandError(exc.message) from None

    def list(self, model) -> None:
        challengers = selectors.challenger_list(model=model)
        rows = []
        if model.production_version_id is not None:
            rows.append(
                (f"v{model.production_version.number}", "production", *metric_cells(serving.metrics(model=model.name)))
            )
        for challenger in challengers:
            number = challenger.version.number
            rows.append((f"v{number}", "challenger", *metric_cells(serving.metrics(model=model.name, version=number))))
        if len(rows) <= 1:
            self.stdout.write(
                f"{model.name} has no challengers; add one with: manage.py challengers {model.name} add V"
            )
            if not rows:
                return
        for line in format_table(("VERSION", "ROLE", "LEARNED", "METRICS"), rows):
            self.stdout.write(line)
