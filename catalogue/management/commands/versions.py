"""``manage.py versions NAME``: a model's versions as a table, the live one marked."""

from django.core.management.base import BaseCommand, CommandError

from catalogue import selectors, services
from catalogue.errors import RhythmicError
from catalogue.management.commands.models import format_table


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def shorten(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Command(BaseCommand):
    help = "List the versions of model NAME, newest first; LIVE marks the production version."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the model's name")

    def handle(self, *args, **options):
        try:
            model = services.get_model_or_404(options["name"])
        except RhythmicError as exc:
            raise CommandError(exc.message) from None
        rows = [
            (
                f"v{version.number}",
                version.status,
                version.format,
                human_size(version.size),
                version.sha256[:12],
                version.author.get_username() if version.author else "-",
                shorten(version.message) or "-",
                version.created_at.strftime("%Y-%m-%d %H:%M"),
                "LIVE" if version.pk == model.production_version_id else "",
            )
            for version in selectors.version_list(model=model)
        ]
        if not rows:
            self.stdout.write(f"{model.name} has no versions yet; add one with: manage.py add_model PATH --name NAME")
            return
        headers = ("VERSION", "STATUS", "FORMAT", "SIZE", "SHA256", "AUTHOR", "MESSAGE", "CREATED", "LIVE")
        for line in format_table(headers, rows):
            self.stdout.write(line)
