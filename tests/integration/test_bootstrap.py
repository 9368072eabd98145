"""`manage.py bootstrap`: a demo superuser, a default location and a token, the same on every run."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from catalogue.models import Location
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def bootstrap(**options) -> str:
    out = StringIO()
    call_command("bootstrap", stdout=out, **options)
    return out.getvalue()


def printed(output: str, label: str) -> str:
    match = re.search(rf"^\s*{label}:\s*(.+)$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1).strip()


def test_bootstrap_creates_a_demo_superuser_whose_printed_password_logs_in():
    # Given an empty database
    # When bootstrap runs
    output = bootstrap()
    # Then a superuser "demo" exists and the printed password is its password
    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser
    assert user.check_password(printed(output, "Password"))


def test_bootstrap_prints_the_same_password_and_token_on_every_run():
    # Given a first run
    first = bootstrap()
    # When it runs again
    second = bootstrap()
    # Then it prints the same credentials and created nothing twice
    assert printed(second, "Password") == printed(first, "Password")
    assert printed(second, "API token") == printed(first, "API token")
    assert get_user_model().objects.filter(username="demo").count() == 1
    assert Token.objects.count() == 1


def test_bootstrap_prints_a_token_header_that_authenticates_as_the_demo_user():
    # Given bootstrap's printed header
    scheme, key = printed(bootstrap(), "API token").removeprefix("Authorization: ").split()
    # When DRF's token authentication checks it
    user, _ = TokenAuthentication().authenticate_credentials(key)
    # Then it is a "Token" header of the demo user
    assert scheme == "Token"
    assert user.username == "demo"


def test_bootstrap_creates_a_default_location_when_there_is_none():
    # Given no location
    # When bootstrap runs
    bootstrap()
    # Then "default" exists and is the default
    assert Location.objects.get(is_default=True).name == "default"


def test_bootstrap_keeps_an_existing_default_location():
    # Given a default location with another name
    factories.LocationFactory(name="eu-west", is_default=True)
    # When bootstrap runs
    bootstrap()
    # Then no other location is created
    assert list(Location.objects.values_list("name", "is_default")) == [("eu-west", True)]


def test_bootstrap_never_overwrites_a_password_set_outside_it():
    # Given a demo user whose password was set by hand
    factories.UserFactory(username="demo")
    # When bootstrap runs
    output = bootstrap()
    # Then the password is untouched and not claimed
    assert get_user_model().objects.get(username="demo").check_password("correct-horse-battery")
    assert "changepassword demo" in printed(output, "Password")


def test_bootstrap_prints_urls_on_the_port_make_run_serves(monkeypatch):
    # Given `make run PORT=9000` (make exports HOST and PORT to bootstrap)
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", "9000")
    # When bootstrap runs without --url
    output = bootstrap()
    # Then every printed link is on port 9000
    assert printed(output, "Open") == "http://127.0.0.1:9000/"
    assert "8000" not in output


def test_bootstrap_prints_a_reachable_address_for_a_wildcard_host(monkeypatch):
    # Given a server listening on every interface
    monkeypatch.setenv("PORT", "9000")
    # When bootstrap is told that address
    output = bootstrap(url="http://0.0.0.0:9000")
    # Then it prints one a browser can open
    assert printed(output, "Open") == "http://127.0.0.1:9000/"
