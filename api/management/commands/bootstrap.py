"""``manage.py bootstrap``: make a fresh install usable (demo superuser, default location, API token).

Idempotent: run it on every start. The demo password is generated once and kept in ``RHYTHMIC_VAR_DIR``
so later runs print the same one. The printed links use ``--url``, else ``HOST`` and ``PORT`` (as ``make run``
and ``make topology`` listen), with a wildcard address shown as one a browser can open.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from catalogue import selectors, services

#: Addresses a server listens on but a browser cannot open: the links show the loopback address instead.
WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 - recognised in a URL, never bound


def server_url(url: str | None) -> str:
    """The base URL to print: ``url``, else http://$HOST:$PORT (default 127.0.0.1:8000), never a wildcard host."""
    if not url:
        # The variables make run and make topology listen on (the Makefile exports them).
        url = f"http://{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
    parts = urlsplit(url.rstrip("/"))
    if (parts.hostname or "") in WILDCARD_HOSTS:  # urlsplit drops an IPv6 address's brackets
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"127.0.0.1{port}")
    return urlunsplit(parts)


def password_file(username: str) -> Path:
    return Path(settings.VAR_DIR) / f"{username}-password.txt"


def _stored_password(username: str) -> str | None:
    try:
        return password_file(username).read_text().strip() or None
    except FileNotFoundError:
        return None


def _store_password(username: str, password: str) -> None:
    path = password_file(username)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(password + "\n")


class Command(BaseCommand):
    help = (
        "Create (once) a demo superuser with a random password, a default location and an API token, "
        "then print how to log in and call the API. Safe to run on every start."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo", help="the demo superuser's name (default: demo)")
        parser.add_argument(
            "--url", help="the server's base URL, for the printed links (default: http://$HOST:$PORT, 127.0.0.1:8000)"
        )

    def handle(self, *args, username: str, url: str | None, **options):
        url = server_url(url)
        with transaction.atomic():
            password = self._demo_user(username)
            user = get_user_model().objects.get(username=username)
            token, _ = Token.objects.get_or_create(user=user)
            location = self._default_location()

        lines = [
            "",
            "Rhythmic is set up.",
            f"  Open:      {url}/",
            f"  Log in:    {url}{settings.LOGIN_URL}",
            f"  Username:  {username}",
            f"  Password:  {password}",
            f"  API token: Authorization: Token {token.key}",
            f"  Location:  {location.name} (default)",
            "  Try the API:",
            f'    curl -H "Authorization: Token {token.key}" {url}/api/v1/models/',
            f"  API docs:  {url}/api/docs/",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _demo_user(self, username: str) -> str:
        """Create the demo superuser if missing; return the password to print."""
        users = get_user_model().objects
        stored = _stored_password(username)
        user = users.filter(username=username).first()
        if user is None:
            password = stored or secrets.token_urlsafe(12)
            users.create_superuser(username=username, email=f"{username}@example.com", password=password)
            if stored is None:
                _store_password(username, password)
            return password
        if stored is not None and user.check_password(stored):
            return stored
        # The user exists but its password was set elsewhere: never overwrite it, never guess it.
        return f"(set outside bootstrap; reset it with: manage.py changepassword {username})"

    def _default_location(self):
        location = selectors.location_default()
        if location is not None:
            return location
        existing = selectors.location_get(name="default")
        if existing is not None:
            return services.location_set_default(location=existing)
        return services.location_create(name="default", description="Created by bootstrap", is_default=True)
