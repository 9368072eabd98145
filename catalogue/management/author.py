"""Who a CLI command acts as: the author of the versions it registers and the user of its deployments.

``--user NAME``, else ``RHYTHMIC_CLI_USER``, else the Django user named like the OS user running the command,
else the first superuser (``demo`` on a fresh install). Without any user, nothing is recorded.
"""

import getpass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def add_user_argument(parser) -> None:
    parser.add_argument(
        "--user",
        help="the Django user to record as author (default: $RHYTHMIC_CLI_USER, else the user named like the OS "
        "user, else the first superuser)",
    )


def cli_user(username: str | None):
    """The user a command records; a name that is not a user is a CommandError (nothing is changed yet)."""
    users = get_user_model().objects
    named = username or settings.RHYTHMIC_CLI_USER
    if named:
        user = users.filter(username=named).first()
        if user is None:
            origin = "--user" if username else "RHYTHMIC_CLI_USER"
            raise CommandError(
                f"{origin}: no user named {named!r} (create it in the admin, or: manage.py createsuperuser)"
            )
        return user
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        login = ""
    user = users.filter(username=login, is_active=True).first() if login else None
    if user is not None:
        return user
    return users.filter(is_superuser=True, is_active=True).order_by("pk").first()
