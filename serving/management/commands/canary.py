"""``manage.py canary NAME [show | set V PERCENT | end]``: a share of predictions answered by a candidate."""

from django.core.management.base import BaseCommand, CommandError

from catalogue import selectors, services
from catalogue.errors import InvalidInput, RhythmicError
from catalogue.management.author import add_user_argument, cli_user


class Command(BaseCommand):
    help = (
        "Show, set or end the canary of model NAME: version V answers PERCENT % of predictions (sticky by id) "
        "and learns every event, as production does."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the model's name")
        parser.add_argument("action", nargs="?", choices=["show", "set", "end"], default="show")
        parser.add_argument("number", nargs="?", help="the version number (set)")
        parser.add_argument("percent", nargs="?", help="its share of predictions, above 0 and at most 100 (set)")
        parser.add_argument("--note", default="", help="why, recorded in the deployment history")
        add_user_argument(parser)

    def handle(self, *args, **options):
        action = options["action"]
        try:
            model = services.get_model_or_404(options["name"])
            if action == "show":
                if model.canary_version_id is None:
                    self.stdout.write(f"{model.name} has no canary")
                else:
                    number = selectors.canary_version(model=model).number
                    self.stdout.write(f"{model.name} v{number} answers {model.canary_percent:g}% of predictions")
                return
            user = cli_user(options["user"])
            if action == "end":
                services.canary_end(model=model, user=user, note=options["note"])
                self.stdout.write(f"{model.name} has no canary now: production answers every prediction")
                return
            if options["number"] is None or options["percent"] is None:
                raise CommandError(f"canary NAME set needs a version and a percent, e.g. canary {model.name} set 3 10")
            version = services.get_version_or_404(model, options["number"])
            services.canary_set(version=version, percent=_number(options["percent"]), user=user, note=options["note"])
            self.stdout.write(f"{model.name} v{version.number} answers {float(options['percent']):g}% of predictions")
        except RhythmicError as exc:
            raise CommandError(exc.message) from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"percent must be a number above 0 and at most 100; got {text!r}") from None
