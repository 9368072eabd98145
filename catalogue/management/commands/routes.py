"""``manage.py routes``: every URL pattern of the project with its name, one per line."""

from collections.abc import Iterator

from django.core.management.base import BaseCommand
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern


def _part(pattern) -> str:
    text = str(pattern)
    if isinstance(pattern, RegexPattern):  # re_path: drop the anchors so the pieces join into one route
        text = text.removeprefix("^").removesuffix("$")
    return text


def walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """(route, name) of every endpoint below ``patterns``, names qualified by their namespaces."""
    for entry in patterns:
        route = prefix + _part(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern):
            yield route, f"{namespace}{entry.name}" if entry.name else ""


class Command(BaseCommand):
    help = "List every URL route of the project, with its name (namespace:name)."

    def add_arguments(self, parser):
        parser.add_argument("--prefix", default="", help="only routes starting with this, e.g. api/")

    def handle(self, *args, **options):
        prefix = options["prefix"].lstrip("/")
        routes = [(route, name) for route, name in walk(get_resolver().url_patterns) if route.startswith(prefix)]
        width = max((len(route) for route, _ in routes), default=0)
        for route, name in routes:
            self.stdout.write(f"/{route.ljust(width)}  {name}".rstrip())
