"""Who may call what: every route of the URL conf, called by users of each permission set, answers as the
README's permission table says; a route without a row in that table fails here.
"""

import re
from contextlib import nullcontext
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.db import connections, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from serving import compat
from tests import factories
from tests.api.test_compat_sse import Stream

pytestmark = pytest.mark.django_db

README = Path(django_settings.BASE_DIR) / "README.md"
HEADING = "### Who may call what"
#: Includes walked as one route: Django's admin checks staff and then each model's admin permissions itself.
OPAQUE = {"admin/"}
#: Every single permission a role might be given, each a user of its own in the walk.
PERMISSIONS = [
    "add_mlmodel",
    "change_mlmodel",
    "delete_mlmodel",
    "add_modelversion",
    "infer_mlmodel",
    "add_location",
    "change_location",
    "add_dataset",
    "delete_dataset",
]
#: What fills each kind of path argument: "m" is a live chantilly model; the other objects need not exist,
#: since every check runs before the lookup.
ARGUMENTS = {
    "name": "m",
    "number": "1",
    "pk": "1",
    "key": "h:1:t",
    "alert_id": "1",
    "uidb64": "x",
    "token": "y",
    "path": "nowhere",
}
SSE = {"/api/stream/events", "/api/stream/metrics"}


def documented_table() -> dict[tuple[str, str], str]:
    """{(route, method): what it needs} from the README's table under HEADING."""
    text = README.read_text()
    section = text[text.index(HEADING) :].split("\n#", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        routes, methods, needs = cells
        for route in re.findall(r"`([^`]+)`", routes):
            for method in (m.strip() for m in methods.split(",")):
                table[(route, method)] = needs
    return table


def display(pattern: str) -> str:
    """A URL pattern as the README writes it: ``api/v1/models/<str:name>/`` -> ``/api/v1/models/<name>/``."""
    if pattern.startswith("^api/"):
        return "/api/<anything else>"
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", pattern)


def url_conf_routes() -> dict[str, set[str]]:
    """{route: the methods its DRF view answers (empty for plain Django views, which do not say)}."""
    routes = {}

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver) and str(entry.pattern) not in OPAQUE:
                walk(entry.url_patterns, route)
                continue
            view = getattr(entry, "callback", None)
            drf = getattr(view, "cls", None) if isinstance(entry, URLPattern) else None
            methods = {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(drf, m)}
            routes[display(route)] = methods

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_route_of_the_url_conf_has_a_row_in_the_readme_table_and_every_row_is_a_route():
    documented = documented_table()
    routes = url_conf_routes()
    assert set(routes) - {route for route, _ in documented} == set(), "routes missing from the README's table"
    assert {route for route, _ in documented} - set(routes) == set(), "rows of the README's table that are no route"
    undocumented = {(route, m) for route, methods in routes.items() for m in methods} - set(documented)
    assert undocumented == set(), "methods of API views missing from the README's table"


def allowed(needs: str, user) -> bool:
    """What the README's phrase means for ``user`` (None: anonymous). Parentheses are commentary."""
    head = needs.split("(")[0]
    if "anyone" in head:
        return True
    if user is None:
        return False
    if "a login" in head:
        return True
    if "staff" in head:
        return user.is_staff
    required = re.findall(r"`(catalogue\.\w+)`", head)
    assert required, f"the README's {needs!r} names no permission"
    return user.has_perms(required)


def refused(response) -> bool:
    if response.status_code in (401, 403):
        return True
    # Sent to log in first (a logout also ends on the login page, but with no page to come back to).
    location = response.get("Location", "") if response.status_code == 302 else ""
    return location.startswith((django_settings.LOGIN_URL, "/admin/login/")) and "next=" in location


def call(user, method: str, route: str) -> int | None:
    """The status ``user`` gets for ``method route``, or None when refused (401, 403, or sent to log in)."""
    path = re.sub(r"<(\w+)>", lambda m: ARGUMENTS[m.group(1)], route).replace("<anything else>", "nowhere")
    client = Client()
    if user is not None:
        client.force_login(user)
    if route in SSE:  # async streams: only the ASGI application serves them

        async def scenario():
            cookie = f"sessionid={client.cookies['sessionid'].value}" if user is not None else None
            stream = await Stream(path, cookie=cookie).open()
            await stream.close()
            return stream.status

        status = async_to_sync(scenario)()
        return None if status in (401, 403) else status
    body = {"data": b"{}", "content_type": "application/json"} if method in ("POST", "PATCH", "PUT") else {}
    response = client.generic(method, path, **body)
    return None if refused(response) else response.status_code


@pytest.fixture
def users(db):
    """Anonymous, a reader, a user per single permission, and a superuser (staff, every permission)."""
    people = {"anonymous": None, "reader": factories.UserFactory(username="reader")}
    for codename in PERMISSIONS:
        people[codename] = factories.UserFactory(username=codename.replace("_", "-"), permissions=[codename])
    people["superuser"] = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    return people


@pytest.fixture
def live_chantilly_model(db, regressor_bytes):
    compat.init(flavor_name="regression")
    compat.upload(data=regressor_bytes, name="m")


def test_every_route_answers_each_kind_of_user_as_the_readme_table_says(users, live_chantilly_model):
    # Given the README's table (but the streams: below), and a live chantilly model "m"
    table = {key: needs for key, needs in documented_table().items() if key[0] not in SSE}
    mismatches, server_errors = check(table, users, rollback=True)
    assert mismatches == [], "\n".join(mismatches)
    assert server_errors == []


@pytest.fixture
def asgi_threads(monkeypatch):
    """Django runs each ASGI request's sync code in a thread of its own: close its connection at the end."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


@pytest.mark.django_db(transaction=True)  # the ASGI application reads the session on a connection of its own
def test_the_streams_answer_each_kind_of_user_as_the_readme_table_says(users, live_chantilly_model, asgi_threads):
    table = {key: needs for key, needs in documented_table().items() if key[0] in SSE}
    assert len(table) == len(SSE)
    mismatches, server_errors = check(table, users, rollback=False)
    assert mismatches == [], "\n".join(mismatches)
    assert server_errors == []


def check(table: dict[tuple[str, str], str], users: dict, *, rollback: bool) -> tuple[list[str], list[str]]:
    from api.authentication import forget
    from serving.process import current

    mismatches, server_errors = [], []
    for (route, method), needs in sorted(table.items()):
        for who, user in users.items():
            # When each user calls each route (rolled back: the next call starts from the same state)
            with transaction.atomic() if rollback else nullcontext():
                status = call(user, method, route)
                if rollback:
                    transaction.set_rollback(True)
            current().forget()
            forget()
            # Then it is refused exactly when the table says it needs what the user lacks
            if (status is not None) != allowed(needs, user):
                mismatches.append(f"{method} {route} as {who}: {'refused' if status is None else status}")
            if status is not None and status >= 500:
                server_errors.append(f"{method} {route} as {who}: {status}")
    return mismatches, server_errors
