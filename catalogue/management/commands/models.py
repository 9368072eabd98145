"""``manage.py models``: the catalogue as a table (name, flavor, location, production version, versions)."""

from collections.abc import Sequence

from django.core.management.base import BaseCommand
from django.db.models import Count, OuterRef, Subquery

from catalogue import selectors
from catalogue.models import ModelVersion


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned columns two spaces apart, the header first; shared by the listing commands."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]


class Command(BaseCommand):
    help = "List the models of the catalogue with their production version and latest version."

    def handle(self, *args, **options):
        latest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-number")
        models = (
            selectors.model_list()
            .defer("production_version__artifact")
            .annotate(
                n_versions=Count("versions"),
                latest_number=Subquery(latest.values("number")[:1]),
                latest_status=Subquery(latest.values("status")[:1]),
            )
        )
        rows = [
            (
                model.name,
                model.flavor,
                model.location.name if model.location else "-",
                f"v{model.production_version.number}" if model.production_version else "-",
                model.n_versions,
                f"v{model.latest_number} ({model.latest_status})" if model.latest_number else "-",
            )
            for model in models
        ]
        if not rows:
            self.stdout.write("no models yet; add one with: manage.py add_model PATH --name NAME --flavor FLAVOR")
            return
        headers = ("NAME", "FLAVOR", "LOCATION", "PRODUCTION", "VERSIONS", "LATEST")
        for line in format_table(headers, rows):
            self.stdout.write(line)
